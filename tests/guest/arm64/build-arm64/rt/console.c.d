build-arm64/rt/console.c.o: rt/console.c rt/internal.h rt/rt.h \
 rt/../../rt/rt_common.h
rt/internal.h:
rt/rt.h:
rt/../../rt/rt_common.h:
