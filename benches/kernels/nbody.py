"""Three bodies under gravity, 200k steps: a float loop on locals and tuples."""

import math

from _harness import run


def accelerate(dx, dy, dz, dt):
    d2 = dx * dx + dy * dy + dz * dz
    mag = dt / (d2 * math.sqrt(d2))
    return dx * mag, dy * mag, dz * mag


def simulate(steps):
    x1, y1, z1 = 0.0, 0.0, 0.0
    x2, y2, z2 = 1.0, 0.0, 0.0
    x3, y3, z3 = 0.0, 1.5, 0.5
    vx1, vy1, vz1 = 0.0, 0.0, 0.0
    vx2, vy2, vz2 = 0.0, 0.8, 0.1
    vx3, vy3, vz3 = -0.6, 0.0, 0.0
    m1, m2, m3 = 10.0, 0.1, 0.05
    dt = 0.0001
    for _ in range(steps):
        ax, ay, az = accelerate(x1 - x2, y1 - y2, z1 - z2, dt)
        vx1 -= ax * m2
        vy1 -= ay * m2
        vz1 -= az * m2
        vx2 += ax * m1
        vy2 += ay * m1
        vz2 += az * m1
        ax, ay, az = accelerate(x1 - x3, y1 - y3, z1 - z3, dt)
        vx1 -= ax * m3
        vy1 -= ay * m3
        vz1 -= az * m3
        vx3 += ax * m1
        vy3 += ay * m1
        vz3 += az * m1
        ax, ay, az = accelerate(x2 - x3, y2 - y3, z2 - z3, dt)
        vx2 -= ax * m3
        vy2 -= ay * m3
        vz2 -= az * m3
        vx3 += ax * m2
        vy3 += ay * m2
        vz3 += az * m2
        x1 += dt * vx1
        y1 += dt * vy1
        z1 += dt * vz1
        x2 += dt * vx2
        y2 += dt * vy2
        z2 += dt * vz2
        x3 += dt * vx3
        y3 += dt * vy3
        z3 += dt * vz3
    return (x1, y1, z1), (x2, y2, z2), (x3, y3, z3)


if __name__ == "__main__":
    run(globals(), "simulate", (10,), (200_000,), ["accelerate", "simulate"])
