build-arm64/rt/gic.c.o: rt/gic.c rt/internal.h rt/rt.h \
 rt/../../rt/rt_common.h
rt/internal.h:
rt/rt.h:
rt/../../rt/rt_common.h:
