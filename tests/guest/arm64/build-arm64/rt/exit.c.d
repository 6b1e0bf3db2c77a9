build-arm64/rt/exit.c.o: rt/exit.c rt/internal.h rt/rt.h \
 rt/../../rt/rt_common.h
rt/internal.h:
rt/rt.h:
rt/../../rt/rt_common.h:
