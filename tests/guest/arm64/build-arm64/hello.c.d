build-arm64/hello.c.o: hello.c rt/rt.h rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
