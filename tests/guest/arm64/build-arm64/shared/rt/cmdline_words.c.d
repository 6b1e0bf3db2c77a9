build-arm64/shared/rt/cmdline_words.c.o: ../rt/cmdline_words.c rt/rt.h \
 rt/../../rt/rt_common.h
rt/rt.h:
rt/../../rt/rt_common.h:
