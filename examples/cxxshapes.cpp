// cxxshapes.cpp - a C++ example with a known profile, for the demo and the
// demangling tests: templates, namespaces, a lambda and an overloaded
// operator, each a leaf doing a share of the work (roughly 40/40/20 %; the
// loops differ, so the split depends on the CPU):
//
//   geo::Grid<unsigned long>::relax(unsigned long) const
//   main::{lambda(unsigned long)#1}::operator()(unsigned long) const
//   geo::operator+(geo::Vec<3>, geo::Vec<3>)
//
// usage: cxxshapes [-n ROUNDS]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define NOINL __attribute__((noinline, noipa))

namespace geo {

template <typename T> struct Grid {
	T seed;
	NOINL T relax(T x) const
	{
		for (int i = 0; i < 50000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			__asm__ volatile("" : "+r"(x));
		}
		return x + seed;
	}
};

template <int N> struct Vec {
	std::uint64_t v[N];
};

NOINL Vec<3> operator+(Vec<3> a, Vec<3> b)
{
	for (int i = 0; i < 20000; i++) {
		a.v[i % 3] ^= b.v[(i + 1) % 3] << 3;
		a.v[(i + 2) % 3] ^= a.v[i % 3] >> 5;
		__asm__ volatile("" : "+r"(a.v[0]), "+r"(a.v[1]), "+r"(a.v[2]));
	}
	return a;
}

} // namespace geo

int main(int argc, char **argv)
{
	long rounds = 3000;
	if (argc > 2 && !std::strcmp(argv[1], "-n"))
		rounds = std::atol(argv[2]);
	geo::Grid<std::uint64_t> grid{ 7 };
	auto mix = [](std::uint64_t x) NOINL {
		for (int i = 0; i < 30000; i++) {
			x ^= x << 7;
			x ^= x >> 9;
			__asm__ volatile("" : "+r"(x));
		}
		return x;
	};
	std::uint64_t x = 88172645463325252ull;
	geo::Vec<3> a{ { 1, 2, 3 } }, b{ { 4, 5, 6 } };
	for (long r = 0; r < rounds; r++) {
		x = grid.relax(x);
		x = mix(x);
		a = a + b;
	}
	std::printf("cxxshapes: done (%llu)\n", (unsigned long long)((x ^ a.v[0]) & 0xff));
	return 0;
}
