"""The package's one base exception.

Every error the library raises about a caller's request or data is a ``MaffsrnError`` (a
``ValueError``), so ``except maffsrn_tf.MaffsrnError`` catches them all; the subclasses say
where it came from (``DataError``, ``ImageError``, ``PackError``, ``UpscaleError``). Messages
speak Python — argument names and values (``scale=5 is not one of 2, 3, 4``) — and the
command lines translate them into their flags (``maffsrn_tf.cli.common.fail_with``).
"""


class MaffsrnError(ValueError):
    """A request or a file that maffsrn_tf cannot use; the message names it and the fix."""


def first_line(error, limit=200):
    """The first line of an exception's message, at most ``limit`` characters ("" if none):
    how a foreign library's long error is quoted inside one of ours."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else ""


def one_line(text):
    """``text`` as one printable line, whatever file names it holds: newlines and other
    control characters, and bytes that are not UTF-8 (``surrogateescape``), become
    backslash escapes."""
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in raw)


def listed(names, last="and"):
    """Names for a message: ``a``, ``a and b``, ``a, b and c`` (``last``: the word before the
    last name, ``or`` for choices)."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last} " + names[-1]


def a_or_an(word):
    """``word`` with its article, by how a format name is said: ``a PNG``, ``an AVIF``,
    ``an MPEG`` (a name read as letters: F, H, L, M, N, R, S, X begin with a vowel sound)."""
    initial = word[:1].upper()
    vowel = initial in "AEIOU" or (word.isupper() and initial in "FHLMNRSX")
    return f"{'an' if vowel else 'a'} {word}"


def reraise_signal(error):
    """Raise again the Ctrl-C or SIGTERM (any ``BaseException`` that is not an ``Exception``)
    that ``error`` wraps as its cause or context: an import interrupted by a signal can
    surface as an ``ImportError``, which must not be read as a missing package."""
    seen = error.__cause__ or error.__context__
    while seen is not None:
        if not isinstance(seen, Exception):
            raise seen
        seen = seen.__cause__ or seen.__context__
