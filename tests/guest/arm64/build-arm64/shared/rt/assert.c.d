build-arm64/shared/rt/assert.c.o: ../rt/assert.c rt/rt.h \
 rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
