"""Call-heavy code the JIT never compiles: recursion over strings and dicts."""

import time


def build(depth, prefix):
    if depth == 0:
        return {"name": prefix, "size": len(prefix)}
    return {"name": prefix, "children": [build(depth - 1, prefix + c) for c in "abc"]}


def walk(node, acc):
    acc[node["name"][-1:]] = acc.get(node["name"][-1:], 0) + len(node["name"])
    for child in node.get("children", ()):
        walk(child, acc)
    return acc


def reverse(s):
    return s if len(s) < 2 else reverse(s[1:]) + s[0]


def words(text):
    counts = {}
    for word in text.split():
        key = word.strip(".,").lower()
        counts[key] = counts.get(key, 0) + 1
    return counts


def main():
    total = 0
    text = " ".join(reverse("The quick brown fox, jumps over the lazy dog." * 3) for _ in range(30))
    for _ in range(150):
        tree = build(7, "")
        total += sum(walk(tree, {}).values())
        total += len(words(text))
        total += sum(len(reverse(w)) for w in text.split()[:400])
    return total


if __name__ == "__main__":
    started = time.perf_counter()
    print(main())
    print(f"BENCH_SECONDS={time.perf_counter() - started:.6f}")
