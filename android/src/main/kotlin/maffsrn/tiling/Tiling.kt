// MAFFSRN's tiling core for Android, independent of LiteRT: the tile layout, the linear-ramp
// blend written strip by strip into the output rows, and the rounding to 8 bits. It mirrors
// tflite/run_tflite.py's upscale_rgb operation for operation (float32, the same order), so both
// give the same bytes; tests/contracts/test_android.py compiles it with kotlinc and checks that
// on the JVM. Its default numbers are Defaults.kt's, generated from maffsrn_tf/model/tiling.json.
//
// Memory: the input and output as bytes, plus one strip of tile rows as floats
// (tile * scale rows x output width x 3): for a 12-megapixel photo at x2 with 128-pixel tiles,
// 256 x 8000 x 3 floats = 24 MB, where accumulating the whole output as floats took ~770 MB.
package maffsrn.tiling

/** A model that upscales one tile: [tile] x [tile] x 3 floats in [0, 1] (RGB, row-major) in,
 *  ([tile] * [scale])^2 x 3 floats out. [LiteRtTileModel] runs a fixed-shape .tflite. */
interface TileModel {
    val tile: Int
    val scale: Int
    fun run(input: FloatArray): FloatArray
}

/** Where the tiles start along one axis, all [size] pixels long. */
class Layout(val size: Int, val starts: IntArray)

object Tiling {
    /** The smallest side the model accepts (ESA's stride-2 conv and 7x7/3 max-pool). */
    const val MIN_SIZE = Defaults.MIN_INPUT_SIZE

    /** The fewest tiles of at most [tile] pixels covering [length] with [overlap] shared
     *  pixels, all of one size, spread evenly ([exact]: of [tile] pixels, for fixed models). */
    fun layout(length: Int, tile: Int, overlap: Int, exact: Boolean): Layout {
        if (length <= tile) return Layout(length, intArrayOf(0))
        val n = ceilDiv(length - overlap, tile - overlap)
        val size = if (exact) tile else maxOf(ceilDiv(length + (n - 1) * overlap, n), MIN_SIZE)
        return Layout(size, IntArray(n) { i -> (i.toLong() * (length - size) / (n - 1)).toInt() })
    }

    /** Pixels tile [i] shares with its previous and next neighbour along one axis. */
    fun overlaps(starts: IntArray, i: Int, size: Int): Pair<Int, Int> {
        val before = if (i > 0) starts[i - 1] + size - starts[i] else 0
        val after = if (i + 1 < starts.size) starts[i] + size - starts[i + 1] else 0
        return Pair(maxOf(before, 0), maxOf(after, 0))
    }

    /** Per-pixel blend weight along one tile axis: linear ramps over the overlaps. */
    fun ramp(n: Int, before: Int, after: Int, scale: Int): FloatArray {
        val w = FloatArray(n) { 1f }
        if (before > 0) {
            val k = before * scale
            for (i in 0 until k) w[i] = ((i + 0.5) / k).toFloat()
        }
        if (after > 0) {
            val k = after * scale
            for (j in 0 until k) {
                val i = n - k + j
                w[i] = minOf(w[i].toDouble(), (k - 1 - j + 0.5) / k).toFloat()
            }
        }
        return w
    }

    /** Each tile's ramp along one axis, and their sum over the tiles (float32, in tile order). */
    fun weightSums(length: Int, layout: Layout, scale: Int): Pair<List<FloatArray>, FloatArray> {
        val n = layout.size * scale
        val ramps = layout.starts.indices.map { i ->
            val (before, after) = overlaps(layout.starts, i, layout.size)
            ramp(n, before, after, scale)
        }
        val total = FloatArray(length * scale)
        for ((i, start) in layout.starts.withIndex()) {
            for (p in 0 until n) total[start * scale + p] += ramps[i][p]
        }
        return Pair(ramps, total)
    }

    private fun ceilDiv(a: Int, b: Int) = -Math.floorDiv(-a, b)
}

/** Upscales 8-bit RGB images tile by tile with a fixed-shape [TileModel], its tiles sharing
 *  [overlap] pixels (by default the package's, [Defaults.OVERLAP]). */
class Upscaler(private val model: TileModel, private val overlap: Int = Defaults.OVERLAP) {
    init {
        require(model.tile >= Tiling.MIN_SIZE) { "tile ${model.tile} is below ${Tiling.MIN_SIZE}" }
        require(overlap >= 0 && 2 * overlap < model.tile) {
            "overlap $overlap must be at least 0 and below half the tile (${model.tile})"
        }
    }

    /** [rgb]: [height] x [width] x 3 bytes (row-major RGB) -> (height * s) x (width * s) x 3
     *  bytes. Images smaller than a tile are edge-padded and the padding cropped off.
     *  [progress] (tiles done, tiles in all) after each tile. */
    fun upscale(
        rgb: ByteArray,
        width: Int,
        height: Int,
        progress: ((Int, Int) -> Unit)? = null,
    ): ByteArray {
        require(width > 0 && height > 0 && rgb.size == width * height * 3) {
            "rgb holds ${rgb.size} bytes, not ${width}x${height}x3"
        }
        val tile = model.tile
        val s = model.scale
        val w = maxOf(width, tile)
        val h = maxOf(height, tile)
        val ly = Tiling.layout(h, tile, overlap, exact = true)
        val lx = Tiling.layout(w, tile, overlap, exact = true)
        val (wys, wySum) = Tiling.weightSums(h, ly, s)
        val (wxs, wxSum) = Tiling.weightSums(w, lx, s)
        val ts = tile * s
        val rowLength = w * s * 3
        val acc = FloatArray(ts * rowLength) // one strip of tile rows
        val out = ByteArray(height * s * width * s * 3)
        val patch = FloatArray(tile * tile * 3)
        val total = ly.starts.size * lx.starts.size
        var done = 0
        for ((r, y0) in ly.starts.withIndex()) {
            if (r > 0) { // rows shared with the previous strip move up, the rest is cleared
                val keep = Tiling.overlaps(ly.starts, r, tile).first * s
                System.arraycopy(acc, (ts - keep) * rowLength, acc, 0, keep * rowLength)
                acc.fill(0f, keep * rowLength, acc.size)
            }
            for ((c, x0) in lx.starts.withIndex()) {
                fillPatch(patch, rgb, width, height, y0, x0, tile)
                val sr = model.run(patch)
                require(sr.size == ts * ts * 3) { "the model returned ${sr.size} floats, not ${ts}x${ts}x3" }
                val wy = wys[r]
                val wx = wxs[c]
                for (y in 0 until ts) {
                    var a = y * rowLength + x0 * s * 3
                    var p = y * ts * 3
                    for (x in 0 until ts) {
                        for (k in 0 until 3) {
                            acc[a] += sr[p] * wy[y] * wx[x]
                            a++
                            p++
                        }
                    }
                }
                done++
                progress?.invoke(done, total)
            }
            val top = y0 * s
            val end = (if (r + 1 < ly.starts.size) ly.starts[r + 1] else y0 + tile) * s
            for (y in top until minOf(end, height * s)) { // finished rows, cropped to the image
                val a = (y - top) * rowLength
                val o = y * width * s * 3
                for (x in 0 until width * s) {
                    for (k in 0 until 3) {
                        val v = acc[a + x * 3 + k] / wySum[y] / wxSum[x] * 255f
                        out[o + x * 3 + k] = Math.rint(v.toDouble()).coerceIn(0.0, 255.0).toInt().toByte()
                    }
                }
            }
        }
        return out
    }

    /** The tile at ([y0], [x0]) as floats in [0, 1], the image edge-replicated past its border. */
    private fun fillPatch(patch: FloatArray, rgb: ByteArray, width: Int, height: Int, y0: Int, x0: Int, tile: Int) {
        var i = 0
        for (y in 0 until tile) {
            val sy = minOf(y0 + y, height - 1)
            for (x in 0 until tile) {
                val p = (sy * width + minOf(x0 + x, width - 1)) * 3
                for (k in 0 until 3) patch[i++] = (rgb[p + k].toInt() and 0xFF) * (1f / 255f)
            }
        }
    }
}
