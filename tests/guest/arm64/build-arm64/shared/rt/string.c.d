build-arm64/shared/rt/string.c.o: ../rt/string.c rt/rt.h \
 rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
