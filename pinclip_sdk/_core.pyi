# Type stub of the C++ extension (csrc/bindings.cpp). tests/core/test_stub.py checks it against
# dir(_core) and the bound signatures, so it cannot drift silently.
import numpy as np
import numpy.typing as npt

__version__: str

def simd_kernels(allow_simd: bool = True) -> str: ...
def float_to_half(value: float) -> int: ...
def yuv420_to_rgb(
    data: npt.NDArray[np.uint8], fmt: str, matrix: str, full_range: bool
) -> npt.NDArray[np.uint8]: ...
def patch_entropy_keys(image: np.ndarray, layout: str, patch: int) -> list[int]: ...
def mosaic_cells(keys: list[int], cells: int, seed: int) -> list[int]: ...

has_jpeg_regions: bool

def decode_jpeg_regions(
    data: bytes | bytearray | memoryview, boxes: list[tuple[int, int, int, int]]
) -> list[np.ndarray]: ...

class Engine:
    def __init__(
        self,
        size: tuple[int, int],
        resize_mode: str,
        interpolation: str,
        mean: list[float],
        std: list[float],
        num_threads: int = 1,
        simd: bool = True,
        exact: bool = True,
        view: str = "resize",
        tile_grid: tuple[int, int] = (2, 2),
        patch_size: int = 32,
    ) -> None: ...
    @property
    def num_threads(self) -> int: ...
    @property
    def kernels(self) -> str: ...
    @property
    def outputs_per_image(self) -> int: ...
    def plan(self, width: int, height: int, tile: int = 0) -> tuple[int, int, int, int, str, str]: ...
    def lut(self, dtype: str = "float32") -> np.ndarray: ...
    def run(self, items: list, out: np.ndarray) -> None: ...
    def resize_u8(
        self, image: np.ndarray, layout: str, fill: tuple[int, int, int] = (0, 0, 0), seed: int = 0
    ) -> npt.NDArray[np.uint8]: ...
