from deblur_tf.cli import main

main()
