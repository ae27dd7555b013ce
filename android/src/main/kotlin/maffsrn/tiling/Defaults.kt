// Generated from maffsrn_tf/model/tiling.json by android/generate_defaults.py: do not
// edit. The tiling numbers shared with the Python package, tflite/run_tflite.py and the
// web page.
package maffsrn.tiling

object Defaults {
    /** The default largest tile in LR pixels (dynamic-shape models). */
    const val TILE = 256
    /** The LR pixels each tile shares with its neighbours. */
    const val OVERLAP = 8
    /** The smallest side the model accepts (ESA's stride-2 conv and 7x7/3 max-pool). */
    const val MIN_INPUT_SIZE = 13
    /** The LR input size of the shipped fixed-shape models (maffsrn_x2_float16_128px.tflite). */
    const val FIXED_MODEL_TILE = 128
}
