build-arm64/rt/cmdline.c.o: rt/cmdline.c rt/internal.h rt/rt.h \
 rt/../../rt/rt_common.h
rt/internal.h:
rt/rt.h:
rt/../../rt/rt_common.h:
