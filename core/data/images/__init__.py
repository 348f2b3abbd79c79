"""Image data: a zip or folder of class folders, listed safely, decoded with Pillow, cached, profiled.

    scan (archive.py) --decode (decode.py)--> ImageDataset (dataset.py, cached by content hash)
        --prepare_images (prepare.py)--> PreparedData with uint8 (n, channels, height, width)
"""
