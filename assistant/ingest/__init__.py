"""Files -> Documents -> Chunks: loaders, structure, chunking, text normalisation, passage numbering."""
