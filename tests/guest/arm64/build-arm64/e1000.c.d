build-arm64/e1000.c.o: e1000.c ../e1000_lib.h rt/rt.h \
 rt/../../rt/rt_common.h ../../../devices/e1000/e1000.h ../net_frames.h \
 ../net_frames.h
../e1000_lib.h:
rt/rt.h:
rt/../../rt/rt_common.h:
../../../devices/e1000/e1000.h:
../net_frames.h:
../net_frames.h:
