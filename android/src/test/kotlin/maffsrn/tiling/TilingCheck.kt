// The JVM side of tests/contracts/test_android.py: runs the tiling core with a known-answer tile
// model and writes what the Python test compares with tflite/run_tflite.py.
//
//   java -cp tiling.jar maffsrn.tiling.TilingCheckKt layout TILE OVERLAP LENGTH...
//       -> one line per length: "LENGTH SIZE START START ..." (exact, fixed-model layout)
//   java -cp tiling.jar maffsrn.tiling.TilingCheckKt upscale IN.rgb WIDTH HEIGHT TILE SCALE OVERLAP OUT.rgb
//       -> OUT.rgb: the upscaled raw RGB bytes; stderr: progress (OVERLAP "default": Upscaler's)
//   java -cp tiling.jar maffsrn.tiling.TilingCheckKt defaults
//       -> "tile=256 overlap=8 min_input_size=13 fixed_model_tile=128 min_size=13" (compiled in)
package maffsrn.tiling

import java.io.File
import kotlin.system.exitProcess

/** Nearest-neighbour xscale plus a ramp across each tile's columns: tiles disagree where they
 *  overlap, so the blend weights decide the output. The same float32 operations as the
 *  Python model in tests/test_android.py. */
class KnownAnswerModel(override val tile: Int, override val scale: Int) : TileModel {
    override fun run(input: FloatArray): FloatArray {
        val ts = tile * scale
        val out = FloatArray(ts * ts * 3)
        for (y in 0 until ts) for (x in 0 until ts) for (k in 0 until 3) {
            val v = input[((y / scale) * tile + x / scale) * 3 + k]
            out[(y * ts + x) * 3 + k] = v * 0.9f + 0.1f * (x.toFloat() / ts.toFloat())
        }
        return out
    }
}

fun main(args: Array<String>) {
    when (args.firstOrNull()) {
        "layout" -> {
            val tile = args[1].toInt()
            val overlap = args[2].toInt()
            for (length in args.drop(3).map { it.toInt() }) {
                val l = Tiling.layout(length, tile, overlap, exact = true)
                println((listOf(length, l.size) + l.starts.toList()).joinToString(" "))
            }
        }
        "upscale" -> {
            val rgb = File(args[1]).readBytes()
            val (width, height, tile, scale) = args.slice(2..5).map { it.toInt() }
            val model = KnownAnswerModel(tile, scale)
            val upscaler = if (args[6] == "default") Upscaler(model) else Upscaler(model, args[6].toInt())
            val out = upscaler.upscale(rgb, width, height) { done, total -> System.err.println("tile $done/$total") }
            File(args[7]).writeBytes(out)
        }
        "defaults" -> println(
            "tile=${Defaults.TILE} overlap=${Defaults.OVERLAP} min_input_size=${Defaults.MIN_INPUT_SIZE} " +
                "fixed_model_tile=${Defaults.FIXED_MODEL_TILE} min_size=${Tiling.MIN_SIZE}",
        )
        else -> {
            System.err.println("usage: TilingCheckKt layout TILE OVERLAP LENGTH... | upscale IN W H TILE SCALE OVERLAP OUT | defaults")
            exitProcess(2)
        }
    }
}
