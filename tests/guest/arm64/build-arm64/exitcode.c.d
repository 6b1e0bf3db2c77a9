build-arm64/exitcode.c.o: exitcode.c rt/rt.h rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
