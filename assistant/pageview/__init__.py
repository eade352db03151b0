"""A cited PDF page as an image with the quote's characters highlighted.

pdfpage.py opens a PDF with PDFium (pypdfium2) and gives a page's characters with their boxes
and its rendering; ocrwords.py the words Tesseract reads on a scanned page, with theirs;
align.py finds which of those characters a span of the indexed page text is made of;
highlight.py draws their boxes line by line; cache.py keeps the images made, by file hash,
page, span and scale, so that a page is rendered once.
"""
