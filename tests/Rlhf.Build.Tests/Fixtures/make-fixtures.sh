#!/bin/sh
# Regenerates the ELF fixtures of Rlhf.Build.Tests. They are committed, so the
# tests need no compiler; rerun this only to change them (made with Debian 12's
# g++ 12.2 and binutils 2.40 on x86-64).
#
# libneeds-glibcxx-3.4.32.so has the shape of TorchSharp's libLibTorchSharp.so
# (see shared/docs/PLATFORM.md): its .gnu.version_r needs GLIBCXX_3.4 (bound
# by a real operator new/delete call) and GLIBCXX_3.4.32 on libstdc++.so.6
# (and GLIBC_2.2.5 on libc.so.6 for strtol, so there are two Verneed entries),
# the latter only through a bare `.globl _ZSt21ios_base_library_initv` with no
# relocation, as GCC 13 emits it. Debian 12's libstdc++ stops at 3.4.30, so
# to get that need we link against a stub libstdc++.so.6 that defines the three
# symbols under those versions; at run time the real libstdc++ is loaded.
# libplain.so is the same code without the GLIBCXX_3.4.32 need.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/stub.c" <<'C'
void _Znwm(void) {}
void _ZdlPv(void) {}
void _ZSt21ios_base_library_initv(void) {}
C
cat > "$work/stub.map" <<'MAP'
GLIBCXX_3.4 { global: _Znwm; _ZdlPv; local: *; };
GLIBCXX_3.4.32 { global: _ZSt21ios_base_library_initv; } GLIBCXX_3.4;
MAP
mkdir "$work/stub"
gcc -shared -fPIC -nostdlib -Wl,-soname,libstdc++.so.6 -Wl,--version-script="$work/stub.map" \
    -o "$work/stub/libstdc++.so" "$work/stub.c"

cat > "$work/fixture.cpp" <<'CPP'
#include <cstdlib>
#include <new>
#ifdef NEED_GLIBCXX_3_4_32
asm(".globl _ZSt21ios_base_library_initv");
#endif
extern "C" int fixture_answer()
{
    int* p = new int(static_cast<int>(std::strtol("42", nullptr, 10)));
    int answer = *p;
    ::operator delete(p);
    return answer;
}
CPP
# Small and reproducible: stripped, no build id, no page-aligned segment padding.
flags="-shared -fPIC -O2 -s -Wl,--build-id=none -Wl,-z,noseparate-code -L$work/stub"
g++ $flags -DNEED_GLIBCXX_3_4_32 -o "$out/libneeds-glibcxx-3.4.32.so" "$work/fixture.cpp"
g++ $flags -o "$out/libplain.so" "$work/fixture.cpp"
