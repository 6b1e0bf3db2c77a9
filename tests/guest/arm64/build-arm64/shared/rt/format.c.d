build-arm64/shared/rt/format.c.o: ../rt/format.c rt/rt.h \
 rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
