package org.deblurtf.demo

import android.content.Context
import android.util.Log
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * The exported .tflite as a [Tiler.TileModel]: LiteRT's Interpreter on the GPU delegate where the device
 * supports it, else on the CPU (XNNPACK, LiteRT's default CPU path). One tile per call, through the file's
 * signature, with buffers allocated once (the file has one fixed input shape).
 */
class TfliteTileModel(context: Context, private val contract: ModelContract, threads: Int = 4) :
    Tiler.TileModel, AutoCloseable {

    private var gpu: GpuDelegate? = null
    private val interpreter: Interpreter
    val accelerator: String
    private val values = contract.tileHeight * contract.tileWidth * 3
    private val input: ByteBuffer = ByteBuffer.allocateDirect(values * if (contract.inputUint8) 1 else 4)
        .order(ByteOrder.nativeOrder())
    private val output: ByteBuffer = ByteBuffer.allocateDirect(values * if (contract.outputUint8) 1 else 4)
        .order(ByteOrder.nativeOrder())

    init {
        val model = mapAsset(context, contract.modelFile)
        var built: Interpreter? = null
        var name = "CPU (XNNPACK, $threads threads)"
        val compat = CompatibilityList()
        if (compat.isDelegateSupportedOnThisDevice) {
            try {
                val delegate = GpuDelegate(compat.bestOptionsForThisDevice)
                built = Interpreter(model, Interpreter.Options().addDelegate(delegate))
                gpu = delegate
                name = "GPU delegate"
            } catch (e: Exception) { // an op the delegate cannot take, a driver problem: run on the CPU
                Log.w(TAG, "GPU delegate failed, falling back to the CPU", e)
                gpu?.close()
                gpu = null
            }
        }
        interpreter = built ?: Interpreter(model, Interpreter.Options().setNumThreads(threads).setUseXNNPACK(true))
        accelerator = name
    }

    override fun run(inTile: FloatArray, outTile: FloatArray) {
        input.rewind()
        if (contract.inputUint8) {
            for (v in inTile) {
                val q = Math.round(v / contract.inputScale + contract.inputZeroPoint).coerceIn(0, 255)
                input.put(q.toByte())
            }
        } else {
            input.asFloatBuffer().put(inTile)
        }
        input.rewind()
        output.rewind()
        interpreter.runSignature(mapOf(contract.inputName to input), mapOf(contract.outputName to output),
            contract.signature)
        output.rewind()
        if (contract.outputUint8) {
            for (i in outTile.indices) {
                val q = output.get().toInt() and 0xff
                outTile[i] = (q - contract.outputZeroPoint) * contract.outputScale
            }
        } else {
            output.asFloatBuffer().get(outTile)
        }
    }

    override fun close() {
        interpreter.close()
        gpu?.close()
    }

    companion object {
        private const val TAG = "DeblurDemo"

        /** Memory-maps the model from the APK (build.gradle.kts keeps .tflite uncompressed for this). */
        fun mapAsset(context: Context, name: String): MappedByteBuffer {
            context.assets.openFd(name).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    return stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        }
    }
}
