build-arm64/rt/start.c.o: rt/start.c rt/internal.h rt/rt.h \
 rt/../../rt/rt_common.h
rt/internal.h:
rt/rt.h:
rt/../../rt/rt_common.h:
