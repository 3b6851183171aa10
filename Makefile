# vox: PGXS build of the extension, its regression tests and isolation specs.
EXTENSION = vox
MODULE_big = vox
OBJS = \
	extension/src/event.o \
	extension/src/distribution.o \
	extension/src/event_reader.o \
	extension/src/handler.o \
	extension/src/maintenance.o \
	extension/src/outbox_notifier.o \
	extension/src/pg_bridge.o \
	extension/src/phone.o \
	extension/src/settings.o \
	extension/src/spi.o \
	extension/src/stats.o \
	extension/src/vox.o

# One install script per version and one upgrade script per step. The
# current version's script is the first version's followed by each step, so
# a fresh install and an upgraded one cannot differ.
DATA = extension/sql/vox--0.1.0.sql extension/sql/vox--0.1.0--0.2.0.sql extension/sql/vox--0.2.0--0.3.0.sql extension/sql/vox--0.3.0--0.4.0.sql \
	extension/sql/vox--0.4.0--0.5.0.sql extension/sql/vox--0.5.0--0.6.0.sql extension/sql/vox--0.6.0--0.7.0.sql
DATA_built = extension/sql/vox--0.2.0.sql extension/sql/vox--0.3.0.sql extension/sql/vox--0.4.0.sql \
	extension/sql/vox--0.5.0.sql extension/sql/vox--0.6.0.sql extension/sql/vox--0.7.0.sql

REGRESS = $(basename $(notdir $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=vox
ISOLATION = $(basename $(notdir $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=vox

# PostgreSQL's headers as system headers: vox's own code builds warning-free
# under -Wall -Wextra, theirs is not ours to fix.
PG_CPPFLAGS = -isystem $(includedir_server)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Werror=return-type -fno-omit-frame-pointer
# PGXS links with $(CC): the C++ runtime must be named explicitly.
SHLIB_LINK = -lphonenumber -lcrypto -lstdc++

# No LLVM bitcode: JIT inlining of vox's C++ would need clang++ with the same
# flags and buys nothing for SPI-bound code.
override with_llvm = no

# Objects depend on the headers they include (PGXS leaves this to
# --enable-depend): an incremental build never links objects compiled
# against different struct layouts.
override autodepend = yes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

extension/sql/vox--0.2.0.sql: extension/sql/vox--0.1.0.sql extension/sql/vox--0.1.0--0.2.0.sql
	cat $^ > $@
extension/sql/vox--0.3.0.sql: extension/sql/vox--0.2.0.sql extension/sql/vox--0.2.0--0.3.0.sql
	cat $^ > $@
extension/sql/vox--0.4.0.sql: extension/sql/vox--0.3.0.sql extension/sql/vox--0.3.0--0.4.0.sql
	cat $^ > $@
extension/sql/vox--0.5.0.sql: extension/sql/vox--0.4.0.sql extension/sql/vox--0.4.0--0.5.0.sql
	cat $^ > $@
extension/sql/vox--0.6.0.sql: extension/sql/vox--0.5.0.sql extension/sql/vox--0.5.0--0.6.0.sql
	cat $^ > $@
extension/sql/vox--0.7.0.sql: extension/sql/vox--0.6.0.sql extension/sql/vox--0.6.0--0.7.0.sql
	cat $^ > $@
