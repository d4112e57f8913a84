"""Generate assets/common-passwords.txt: passwords people commonly choose, built from patterns.

No published breach list can be downloaded where this project is built, so the list is generated,
deterministically, from the patterns that dominate every published analysis of leaked passwords:
common words and names with digits, years or a "!" appended, keyboard walks, digit runs, repeated
characters and simple letter-for-digit swaps. Only entries of 8 characters or more are kept
(shorter ones are already refused by the length rule). Lower case: the check is case-insensitive.

    python scripts/gen_common_passwords.py        # rewrites assets/common-passwords.txt
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "assets" / "common-passwords.txt"
MIN_LENGTH = 8

WORDS = """
password passw0rd letmein welcome admin administrator login qwerty iloveyou trustno1 dragon
monkey football baseball basketball soccer hockey sunshine princess shadow master superman
batman spiderman starwars pokemon computer internet freedom whatever secret changeme default
blink182 mustang charlie jordan hunter ranger tigger summer winter autumn spring flower
cookie chocolate butterfly purple orange yellow silver golden diamond killer pepper ginger
matrix hello welcome1 access money lovely loveme angel angels babygirl baby family friends
forever heaven jesus christ god blessed samsung google apple microsoft facebook linkedin
twitter youtube qazwsx zaq12wsx asdfgh zxcvbn mypassword mypass passpass pass1234 system
server database oracle manager office company london paris berlin chicago newyork texas
california america canada england liverpool chelsea arsenal barcelona madrid juventus
yankees lakers cowboys eagles steelers packers dolphins raiders warriors thunder lightning
rainbow unicorn dolphin elephant tiger lion wolf eagle falcon phoenix dragonfly guitar music
rockstar rocknroll player gamer gaming minecraft fortnite roblox nintendo playstation xbox
coffee cheese banana cherry strawberry pumpkin sweetie sweetheart honey sugar darling
beautiful pretty handsome sexy hottie lover loving iloveu teamo amore soleil bonjour
hallo passwort geheim contrasena senha parola salasana wachtwoord haslo
""".split()

NAMES = """
michael jennifer jessica ashley daniel david james robert john joseph thomas christopher
matthew anthony andrew joshua william richard charles steven kevin brian jason justin
nicholas jonathan brandon ryan eric adam patrick benjamin samuel alexander alexandra
elizabeth sarah amanda melissa michelle stephanie nicole heather amber rebecca laura
emily emma olivia sophia isabella charlotte amelia harper abigail madison chloe natalie
victoria samantha hannah lauren megan rachel kimberly christina maria anna katherine
george edward henry oliver jack harry charlie thomas oscar jacob noah liam lucas mason
ethan logan aiden jayden carter sebastian gabriel julian isaac nathan aaron dylan tyler
""".split()

SUFFIXES = [
    "",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "!",
    "1!",
    "123!",
    "01",
    "007",
    "69",
    "99",
    "00",
    "11",
    "13",
    "21",
    "22",
    "23",
    "77",
    "88",
    "@123",
    "#1",
    "2000",
]
YEARS = [str(y) for y in range(1960, 2031)]

ROWS = [
    "1234567890",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "0987654321",
    "poiuytrewq",
    "lkjhgfdsa",
    "mnbvcxz",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1qaz2wsx3edc4rfv5tgb",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "qweasdzxc",
    "zaqxswcdevfrbgt",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertzuiop",
    "azertyuiop",
    "!@#$%^&*()",
]

LEET = str.maketrans({"a": "@", "o": "0", "e": "3", "i": "1", "s": "$"})


def keyboard_walks() -> set[str]:
    walks = set()
    for row in ROWS:
        for start in range(len(row)):
            for end in range(start + 4, len(row) + 1):
                piece = row[start:end]
                walks.update({piece, piece + piece, piece + "1", piece + "!"})
    return walks


def repeats() -> set[str]:
    chars = "abcdefghijklmnopqrstuvwxyz0123456789!"
    runs = {c * n for c in chars for n in range(MIN_LENGTH, 13)}
    pairs = {
        (a + b) * n
        for a in "abcdefghijklmnopqrstuvwxyz0123456789"
        for b in "0123456789"
        for n in (4, 5, 6)
    }
    return runs | pairs


def digit_runs() -> set[str]:
    runs = set()
    for length in range(MIN_LENGTH, 13):
        for start in range(10):
            runs.add("".join(str((start + i) % 10) for i in range(length)))
            runs.add("".join(str((start - i) % 10) for i in range(length)))
    return runs


def word_patterns() -> set[str]:
    out = set()
    for word in WORDS + NAMES:
        out.update(word + s for s in SUFFIXES)
        out.update(word + y for y in YEARS)
        out.update({word + word, word + word + "1"})
    for word in WORDS:  # the symbol swaps people think make a word safe
        out.update(word.translate(LEET) + s for s in SUFFIXES)
    return out


def main() -> int:
    entries = keyboard_walks() | repeats() | digit_runs() | word_patterns()
    kept = sorted(e.lower() for e in entries if len(e) >= MIN_LENGTH)
    header = [
        "# Common passwords refused when a password is set (never checked at sign-in).",
        "# Generated by scripts/gen_common_passwords.py from the patterns people use: words and",
        "# names with digits or years, keyboard walks, digit runs, repeated characters, simple",
        "# letter-for-symbol swaps. Not a breach list. One lower-case entry per line, >= 8 chars.",
    ]
    OUT.write_text("\n".join(header + sorted(set(kept))) + "\n", encoding="utf-8")
    print(f"wrote {len(set(kept))} entries to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
