mod props;
mod vectors;
