package org.deblurtf.demo

import android.content.Context
import org.json.JSONObject

/**
 * deblur_contract.json, written by `deblur-tf export --android` beside the model in the assets.
 *
 * Why the app reads these instead of constants: tile size, overlap, the model's size multiple (nafnet: 16)
 * and the I/O types change with the model; reading them makes an app built once run any exported model the
 * way the exporter verified it. tests/test_android.py checks that every key read here is one the exporter
 * writes.
 */
data class ModelContract(
    val modelFile: String,
    val modelName: String,
    val signature: String,
    val inputName: String,
    val outputName: String,
    val tileHeight: Int,
    val tileWidth: Int,
    val overlap: Int,
    val sizeMultiple: Int,
    val inputUint8: Boolean,
    val inputScale: Float,
    val inputZeroPoint: Int,
    val outputUint8: Boolean,
    val outputScale: Float,
    val outputZeroPoint: Int,
) {
    companion object {
        const val FILE_NAME = "deblur_contract.json"
        const val SUPPORTED_VERSION = 1

        fun load(context: Context): ModelContract =
            parse(context.assets.open(FILE_NAME).bufferedReader().use { it.readText() })

        fun parse(text: String): ModelContract {
            val c = JSONObject(text)
            val version = c.getInt("contract_version")
            require(version == SUPPORTED_VERSION) { "$FILE_NAME version $version; this app reads $SUPPORTED_VERSION" }
            require(c.getString("layout") == "NHWC" && c.getString("channels") == "RGB") { "expected NHWC RGB" }
            val range = c.getJSONArray("input_range")
            require(range.getDouble(0) == 0.0 && range.getDouble(1) == 1.0) { "expected input range [0, 1]" }
            val tile = c.getJSONObject("tile")
            val shape = c.getJSONArray("input_shape")
            require(shape.getInt(1) == tile.getInt("height") && shape.getInt(2) == tile.getInt("width")) {
                "tile size differs from the model's input shape"
            }
            val inU8 = c.getString("input_dtype") == "uint8"
            val outU8 = c.getString("output_dtype") == "uint8"
            val qIn = if (c.isNull("input_quantization")) null else c.getJSONObject("input_quantization")
            val qOut = if (c.isNull("output_quantization")) null else c.getJSONObject("output_quantization")
            return ModelContract(
                modelFile = c.getString("model_file"),
                modelName = c.getString("model"),
                signature = c.getString("signature"),
                inputName = c.getString("input_name"),
                outputName = c.getString("output_name"),
                tileHeight = tile.getInt("height"),
                tileWidth = tile.getInt("width"),
                overlap = tile.getInt("overlap"),
                sizeMultiple = c.getInt("size_multiple"),
                inputUint8 = inU8,
                inputScale = qIn?.getDouble("scale")?.toFloat() ?: 1f,
                inputZeroPoint = qIn?.getInt("zero_point") ?: 0,
                outputUint8 = outU8,
                outputScale = qOut?.getDouble("scale")?.toFloat() ?: 1f,
                outputZeroPoint = qOut?.getInt("zero_point") ?: 0,
            )
        }
    }
}
