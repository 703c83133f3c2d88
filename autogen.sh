#!/bin/sh
# Generate ./configure from configure.ac and Makefile.am.
set -e
cd "$(dirname "$0")"
mkdir -p m4
autoreconf -fi
# Autoconf's generated cleanup runs "rm -f core ..." to delete core dumps
# and chains the rest of its cleanup behind it with &&.  Our source tree
# has a core/ directory (and so does every build tree), so that rm fails
# and configure leaves confdefs.h behind.  Drop the word "core" from those
# rm commands.
sed -i 's/rm -f core /rm -f -- /' configure
