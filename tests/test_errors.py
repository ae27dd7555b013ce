"""``maffsrn_tf.errors``: the package's one base error and the helpers every wing uses."""

import pytest

from maffsrn_tf.errors import reraise_signal


def test_an_import_error_from_a_signal_is_the_signal_again():
    """Ctrl-C while LiteRT imports must end as Ctrl-C, not as "install LiteRT"."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ImportError("initialization of _pywrap failed") from interrupt
    except ImportError as err:
        with pytest.raises(KeyboardInterrupt):
            reraise_signal(err)
    try:
        try:
            raise OSError("libfoo.so: cannot open shared object file")
        except OSError as cause:
            raise ImportError("no runtime") from cause
    except ImportError as err:
        assert reraise_signal(err) is None  # a real missing package: the caller says so


def test_names_are_listed_as_a_sentence_lists_them():
    from maffsrn_tf.errors import listed

    assert listed(["a.png"]) == "a.png"
    assert listed(["a", "b"]) == "a and b"
    assert listed(iter(["a", "b", "c"]), "or") == "a, b or c"
