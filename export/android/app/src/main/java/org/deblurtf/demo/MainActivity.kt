package org.deblurtf.demo

import android.content.ContentValues
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.os.Environment
import android.os.SystemClock
import android.provider.MediaStore
import android.view.View
import android.widget.Button
import android.widget.ProgressBar
import android.widget.TextView
import android.widget.Toast
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.io.FileOutputStream

/**
 * Pick a photo, deblur it on the device in tiles ([Tiler], the project's overlap/feather scheme) with the
 * exported model, show before/after with a slider and the time taken, save the result.
 *
 * Everything model-specific (file, tile, overlap, size multiple, I/O) comes from deblur_contract.json.
 */
class MainActivity : AppCompatActivity() {

    private lateinit var status: TextView
    private lateinit var progress: ProgressBar
    private lateinit var compare: BeforeAfterView
    private lateinit var save: Button
    private var contract: ModelContract? = null
    private var model: TfliteTileModel? = null
    private var result: Bitmap? = null

    private val pick = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        if (uri != null) deblur(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        status = findViewById(R.id.status)
        progress = findViewById(R.id.progress)
        compare = findViewById(R.id.compare)
        save = findViewById(R.id.save)
        findViewById<Button>(R.id.pick).setOnClickListener {
            pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        save.setOnClickListener { result?.let { saveResult(it) } }
        try {
            contract = ModelContract.load(this)
        } catch (e: Exception) {
            status.text = "No model: run `deblur-tf export --android app/src/main/assets` and rebuild ($e)"
            findViewById<Button>(R.id.pick).isEnabled = false
        }
    }

    override fun onDestroy() {
        model?.close()
        super.onDestroy()
    }

    private fun deblur(uri: Uri) {
        val c = contract ?: return
        save.isEnabled = false
        progress.visibility = View.VISIBLE
        progress.progress = 0
        status.text = "Loading…"
        lifecycleScope.launch {
            try {
                val before = withContext(Dispatchers.IO) { decode(uri) }
                compare.setImages(before, null)
                val m = model ?: withContext(Dispatchers.Default) { TfliteTileModel(this@MainActivity, c) }
                    .also { model = it }
                val tiler = Tiler(c.tileHeight, c.tileWidth, c.overlap, c.sizeMultiple)
                val w = before.width
                val h = before.height
                val tiles = tiler.tileCount(h, w)
                progress.max = tiles
                status.text = "Deblurring ${w}x$h in $tiles tiles of ${c.tileWidth}x${c.tileHeight} on ${m.accelerator}…"
                val t0 = SystemClock.elapsedRealtime()
                val after = withContext(Dispatchers.Default) {
                    val out = tiler.run(toRgb(before), h, w, m) { done, _ ->
                        runOnUiThread { progress.progress = done }
                    }
                    fromRgb(out, w, h)
                }
                val seconds = (SystemClock.elapsedRealtime() - t0) / 1000.0
                result = after
                compare.setImages(before, after)
                status.text = String.format("%s: %dx%d, %d tiles, %.2f s on %s (drag: before | after)",
                    c.modelName, w, h, tiles, seconds, m.accelerator)
                save.isEnabled = true
            } catch (e: Exception) {
                status.text = "Failed: $e"
            } finally {
                progress.visibility = View.GONE
            }
        }
    }

    /** The photo upright (EXIF applied by the decoder), ARGB_8888, longest side at most [MAX_SIDE]. */
    private fun decode(uri: Uri): Bitmap {
        val bitmap = if (Build.VERSION.SDK_INT >= 28) {
            ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                val side = maxOf(info.size.width, info.size.height)
                if (side > MAX_SIDE) {
                    val s = MAX_SIDE.toDouble() / side
                    decoder.setTargetSize((info.size.width * s).toInt(), (info.size.height * s).toInt())
                }
            }
        } else {
            val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
            contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
            var sample = 1
            while (maxOf(bounds.outWidth, bounds.outHeight) / sample > MAX_SIDE) sample *= 2
            val opts = BitmapFactory.Options().apply { inSampleSize = sample }
            contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, opts) }
                ?: error("cannot decode $uri")
        }
        return bitmap.copy(Bitmap.Config.ARGB_8888, false)
    }

    private fun saveResult(bitmap: Bitmap) {
        val name = "deblurred_${System.currentTimeMillis()}.png"
        try {
            if (Build.VERSION.SDK_INT >= 29) {
                val values = ContentValues().apply {
                    put(MediaStore.Images.Media.DISPLAY_NAME, name)
                    put(MediaStore.Images.Media.MIME_TYPE, "image/png")
                    put(MediaStore.Images.Media.RELATIVE_PATH, Environment.DIRECTORY_PICTURES + "/Deblur")
                }
                val uri = contentResolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)
                    ?: error("MediaStore refused the file")
                contentResolver.openOutputStream(uri).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it!!) }
            } else {
                @Suppress("DEPRECATION")
                val dir = File(Environment.getExternalStoragePublicDirectory(Environment.DIRECTORY_PICTURES), "Deblur")
                dir.mkdirs()
                FileOutputStream(File(dir, name)).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            }
            Toast.makeText(this, "Saved Pictures/Deblur/$name", Toast.LENGTH_LONG).show()
        } catch (e: Exception) {
            Toast.makeText(this, "Save failed: $e", Toast.LENGTH_LONG).show()
        }
    }

    companion object {
        /** Memory bound: about 10 floats per pixel (input, accumulators, output): 2048x1536 is ~125 MB (largeHeap). */
        const val MAX_SIDE = 2048

        /** ARGB_8888 pixels -> float RGB HWC in [0, 1] (the contract's input range). */
        fun toRgb(bitmap: Bitmap): FloatArray {
            val w = bitmap.width
            val h = bitmap.height
            val px = IntArray(w * h)
            bitmap.getPixels(px, 0, w, 0, 0, w, h)
            val rgb = FloatArray(w * h * 3)
            for (i in px.indices) {
                val p = px[i]
                rgb[i * 3] = ((p shr 16) and 0xff) / 255f
                rgb[i * 3 + 1] = ((p shr 8) and 0xff) / 255f
                rgb[i * 3 + 2] = (p and 0xff) / 255f
            }
            return rgb
        }

        /** Float RGB in [0, 1] (Tiler clips) -> an opaque ARGB_8888 bitmap, rounded to the nearest level. */
        fun fromRgb(rgb: FloatArray, w: Int, h: Int): Bitmap {
            val px = IntArray(w * h)
            for (i in px.indices) {
                val r = Math.round(rgb[i * 3] * 255f)
                val g = Math.round(rgb[i * 3 + 1] * 255f)
                val b = Math.round(rgb[i * 3 + 2] * 255f)
                px[i] = (0xff shl 24) or (r shl 16) or (g shl 8) or b
            }
            return Bitmap.createBitmap(px, w, h, Bitmap.Config.ARGB_8888)
        }
    }
}
