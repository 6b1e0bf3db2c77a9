build-arm64/rt/start.S.o: rt/start.S
