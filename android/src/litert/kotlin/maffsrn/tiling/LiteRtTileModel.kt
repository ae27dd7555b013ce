// The thin LiteRT adapter: a fixed-shape MAFFSRN .tflite (e.g. maffsrn_x2_float16_128px.tflite)
// as a TileModel, run by LiteRT's CompiledModel API (com.google.ai.edge.litert:litert, plus
// litert-gpu for Accelerator.GPU).
//
// NOT COMPILED HERE: LiteRT's Android AAR is on Google's Maven, which our machines cannot
// reach. Everything it calls is written as LiteRT's Kotlin guide shows it
// (https://ai.google.dev/edge/litert/next/android_kotlin); the tiling it plugs into
// (Tiling.kt, Defaults.kt) is compiled and tested on the JVM by tests/contracts/test_android.py.
package maffsrn.tiling

import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment

class LiteRtTileModel(
    assets: AssetManager,
    assetName: String,
    override val tile: Int = Defaults.FIXED_MODEL_TILE, // the shipped fixed-shape models'
    override val scale: Int,
    accelerator: Accelerator = Accelerator.GPU,
) : TileModel, AutoCloseable {
    private val env = Environment.create()
    private val model = CompiledModel.create(assets, assetName, CompiledModel.Options(accelerator), env)
    private val inputs = model.createInputBuffers()
    private val outputs = model.createOutputBuffers()

    override fun run(input: FloatArray): FloatArray {
        inputs[0].writeFloat(input)
        model.run(inputs, outputs)
        return outputs[0].readFloat()
    }

    override fun close() {
        inputs.forEach { it.close() }
        outputs.forEach { it.close() }
        model.close()
        env.close()
    }
}

// Usage, from a Bitmap (ARGB_8888) to a Bitmap:
//
//   LiteRtTileModel(context.assets, "maffsrn_x2_float16_128px.tflite", scale = 2).use { m ->
//       val px = IntArray(w * h).also { bitmap.getPixels(it, 0, w, 0, 0, w, h) }
//       val rgb = ByteArray(w * h * 3) { i -> (px[i / 3] shr (16 - 8 * (i % 3))).toByte() }
//       val sr = Upscaler(m).upscale(rgb, w, h) { done, total -> /* progress */ }
//       // sr: (2h) x (2w) x 3 bytes; copy into an IntArray of 0xFF shl 24 or r/g/b, setPixels
//   }
