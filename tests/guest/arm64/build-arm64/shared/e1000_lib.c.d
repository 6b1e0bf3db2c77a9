build-arm64/shared/e1000_lib.c.o: ../e1000_lib.c ../e1000_lib.h rt/rt.h \
 rt/../../rt/rt_common.h ../../../devices/e1000/e1000.h ../net_frames.h
../e1000_lib.h:
rt/rt.h:
rt/../../rt/rt_common.h:
../../../devices/e1000/e1000.h:
../net_frames.h:
