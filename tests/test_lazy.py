"""The lazy names of the package and its wings: no TensorFlow at import, and on the light
install a name that needs Keras says what to install instead of a ModuleNotFoundError."""

import sys
import types

import pytest

from maffsrn_tf import MaffsrnError
from maffsrn_tf.lazy import lazy_names


def _light_install_getter(monkeypatch, package, name, module):
    """``lazy_names``' getter of a probe ``package`` exporting ``name`` from ``module``, with
    Keras missing as on the light install (``module`` imported afresh)."""
    monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    return lazy_names(package, {name: module})[0]


def test_a_name_that_needs_keras_says_what_to_install(monkeypatch):
    get = _light_install_getter(
        monkeypatch, "lazy_probe", "load_pretrained", "maffsrn_tf.pretrained.loading"
    )
    load_pretrained = get("load_pretrained")
    with pytest.raises(MaffsrnError, match=r"^load_pretrained needs TensorFlow and Keras: pip"):
        load_pretrained("maffsrn_x2")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        get("nope")


def test_a_class_that_needs_keras_says_so_from_its_attributes_too(monkeypatch):
    """``MAFFSRN.from_preset(...)`` on the light install was "AttributeError: 'function'
    object has no attribute 'from_preset'" (fuzz pass 23)."""
    get = _light_install_getter(monkeypatch, "lazy_probe3", "MAFFSRN", "maffsrn_tf.model.maffsrn")
    cls = get("MAFFSRN")
    message = r'^MAFFSRN needs TensorFlow and Keras: pip install "maffsrn_tf\[tensorflow\]"$'
    for use in (lambda: cls.from_preset("maffsrn_x4"), lambda: cls(scale=2)):
        with pytest.raises(MaffsrnError, match=message):
            use()
    assert not isinstance(object(), cls) and not hasattr(cls, "__wrapped__")


def test_other_missing_modules_are_not_hidden(monkeypatch):
    package = types.ModuleType("lazy_probe2")
    monkeypatch.setitem(sys.modules, "lazy_probe2", package)
    get, _ = lazy_names("lazy_probe2", {"x": "maffsrn_tf.no_such_module"})
    with pytest.raises(ModuleNotFoundError):
        get("x")
