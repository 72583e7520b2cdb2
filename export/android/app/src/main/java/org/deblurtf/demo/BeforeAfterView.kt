package org.deblurtf.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Paint
import android.graphics.RectF
import android.util.AttributeSet
import android.view.MotionEvent
import android.view.View

/** Two bitmaps of one size on top of each other: "before" left of a draggable divider, "after" right of it. */
class BeforeAfterView @JvmOverloads constructor(context: Context, attrs: AttributeSet? = null) :
    View(context, attrs) {

    private var before: Bitmap? = null
    private var after: Bitmap? = null
    private var split = 0.5f
    private val line = Paint().apply { color = 0xffffffff.toInt(); strokeWidth = 4f }
    private val dst = RectF()

    fun setImages(before: Bitmap?, after: Bitmap?) {
        this.before = before
        this.after = after
        invalidate()
    }

    override fun onDraw(canvas: Canvas) {
        super.onDraw(canvas)
        val b = before ?: return
        val scale = minOf(width.toFloat() / b.width, height.toFloat() / b.height)
        val w = b.width * scale
        val h = b.height * scale
        dst.set((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)
        canvas.drawBitmap(b, null, dst, null)
        val a = after ?: return
        val x = dst.left + split * w
        canvas.save()
        canvas.clipRect(x, dst.top, dst.right, dst.bottom)
        canvas.drawBitmap(a, null, dst, null)
        canvas.restore()
        canvas.drawLine(x, dst.top, x, dst.bottom, line)
    }

    override fun onTouchEvent(event: MotionEvent): Boolean {
        val b = before ?: return false
        val w = b.width * minOf(width.toFloat() / b.width, height.toFloat() / b.height)
        split = ((event.x - (width - w) / 2) / w).coerceIn(0f, 1f)
        invalidate()
        if (event.action == MotionEvent.ACTION_UP) performClick()
        return true
    }

    override fun performClick(): Boolean = super.performClick()
}
