"""deblur-tf: blind motion deblurring with DeblurGAN (Kupyn et al., arXiv:1711.07064) in Keras 3.

The top-level package imports nothing heavy so that `deblur-tf --help` starts instantly; import the
submodules (`deblur_tf.blur`, `deblur_tf.models`, ...) for the real work.
"""

__version__ = "0.1.0"
