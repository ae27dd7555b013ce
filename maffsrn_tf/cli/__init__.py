"""The console scripts, one module each (``maffsrn-<name>`` is ``maffsrn_tf.cli.<name>``).

Each is a thin absl shell over library functions: it checks its flags and paths, then
imports TensorFlow and calls the library. Runnable as ``python -m maffsrn_tf.cli.<name>``.

May import: every wing.
"""
