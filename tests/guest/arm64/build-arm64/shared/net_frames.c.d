build-arm64/shared/net_frames.c.o: ../net_frames.c ../net_frames.h \
 rt/rt.h rt/../../rt/rt_common.h
../net_frames.h:
rt/rt.h:
rt/../../rt/rt_common.h:
