"""Call-heavy code the JIT never compiles: small methods on classes."""

import time


class Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def add(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def scale(self, k):
        return Vec(self.x * k, self.y * k)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    @property
    def norm2(self):
        return self.dot(self)


class Particle:
    def __init__(self, position, velocity):
        self.position = position
        self.velocity = velocity

    def step(self, dt):
        self.position = self.position.add(self.velocity.scale(dt))
        return self

    def energy(self):
        return 0.5 * self.velocity.norm2


def main():
    particles = [Particle(Vec(i, -i), Vec(1.0 / (i + 1), 0.5)) for i in range(100)]
    total = 0.0
    for _ in range(40000):
        for p in particles:
            p.step(0.01)
        total += particles[0].energy()
    return round(total, 6), round(particles[-1].position.x, 6)


if __name__ == "__main__":
    started = time.perf_counter()
    print(main())
    print(f"BENCH_SECONDS={time.perf_counter() - started:.6f}")
