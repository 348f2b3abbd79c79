"""Write the sample datasets, their datasheets, catalog.yaml and README.md.

Run once from the repository root (`python sample_data/generate.py`); the outputs are
committed. Everything comes from data that installed packages ship (scikit-learn's
bundled datasets, plotly's `tips`, scikit-image's LFW subset, vega_datasets' local
`seattle-weather` and the UCR sets bundled in aeon), so nothing is downloaded. vega_datasets and
aeon are needed only here, not by the workbench: `pip install vega_datasets aeon` before running
it. The metadata lives
here, next to the code that writes the files, so a datasheet cannot drift from its CSV.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn import datasets

from image_samples import write_image_samples  # the zips of class folders, beside this file

log = logging.getLogger("sample_data.generate")
HERE = Path(__file__).resolve().parent
UCI_LICENCE = "CC BY 4.0 (UCI Machine Learning Repository)"


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    target: str
    task: str
    description: str
    source: str
    citation: str
    licence: str
    columns: dict[str, str]  # column (or column pattern) -> what it is
    image_shape: tuple[int, ...] | None = None
    sequence: dict | None = None  # SequenceConfig defaults: the sample is read as sequences
    result: str = ""  # what a model reaches on it, with the command that measured it


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def iris() -> pd.DataFrame:
    raw = datasets.load_iris(as_frame=True)
    df = raw.data.set_axis(["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1)
    df["species"] = raw.target.map(dict(enumerate(raw.target_names)))
    return df


def wine() -> pd.DataFrame:
    raw = datasets.load_wine(as_frame=True)
    df = raw.data.rename(columns=_snake)
    df["cultivar"] = raw.target.map(dict(enumerate(raw.target_names)))
    return df


def breast_cancer() -> pd.DataFrame:
    raw = datasets.load_breast_cancer(as_frame=True)
    df = raw.data.rename(columns=_snake)
    df["diagnosis"] = raw.target.map(dict(enumerate(raw.target_names)))  # 0 malignant, 1 benign
    return df


def diabetes() -> pd.DataFrame:
    # scaled=False keeps the clinical units (age in years, bmi, ...) that users recognise.
    raw = datasets.load_diabetes(as_frame=True, scaled=False)
    df = raw.data.copy()
    df["progression"] = raw.target.astype(int)
    for col in ("age", "sex", "bp", "s1", "s3", "s4", "s6"):
        if (df[col] % 1 == 0).all():  # integral in the source; write 59, not 59.0
            df[col] = df[col].astype(int)
    return df


def digits() -> pd.DataFrame:
    raw = datasets.load_digits(as_frame=True)
    names = [f"px_{r}_{c}" for r in range(8) for c in range(8)]
    df = raw.data.astype(int).set_axis(names, axis=1)
    df["label"] = raw.target.astype(int)
    return df


def tips() -> pd.DataFrame:
    import plotly.data  # only the generator needs plotly's bundled copy

    return plotly.data.tips()


def seattle_weather() -> pd.DataFrame:
    from vega_datasets import local_data  # only the generator needs it: the CSV ships inside the package

    df = local_data.seattle_weather()
    df["date"] = pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d")
    return df[["date", "temp_max", "temp_min", "precipitation", "wind", "weather"]]


def _aeon(name: str) -> tuple:
    from aeon.datasets import load_classification  # reads the .ts files bundled in aeon; no download

    return load_classification(name)  # train and test parts together; the workbench splits them its own way


def italy_power_demand() -> pd.DataFrame:
    X, y = _aeon("ItalyPowerDemand")  # (1096, 1, 24)
    df = pd.DataFrame(X[:, 0, :].round(6), columns=[f"h{hour:02d}" for hour in range(24)])
    df["season"] = pd.Series(y).map({"1": "oct_to_mar", "2": "apr_to_sep"}).to_numpy()
    return df


def basic_motions() -> pd.DataFrame:
    X, y = _aeon("BasicMotions")  # (80, 6, 100): 6 sensor channels, 100 steps at 10 Hz
    channels = ["accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z"]
    n, _, steps = X.shape
    df = pd.DataFrame({"recording": np.repeat(np.arange(n), steps), "step": np.tile(np.arange(steps), n)})
    for i, name in enumerate(channels):
        df[name] = X[:, i, :].reshape(-1).round(6)
    df["activity"] = np.repeat(np.asarray(y), steps)
    return df


UCI = "Dua, D. and Graff, C. (2019). UCI Machine Learning Repository. University of California, Irvine."
SAMPLES: dict[str, tuple[Sample, object]] = {
    "iris": (Sample(
        "iris", "Iris flowers", "species", "multiclass",
        "Fisher's iris flowers: 150 rows, 4 measurements, 3 species.",
        "UCI Iris dataset, via scikit-learn `sklearn.datasets.load_iris`.",
        "Fisher, R. A. (1936). The use of multiple measurements in taxonomic problems. "
        "Annals of Eugenics 7(2), 179-188. " + UCI,
        UCI_LICENCE,
        {"sepal_length": "sepal length in cm", "sepal_width": "sepal width in cm",
         "petal_length": "petal length in cm", "petal_width": "petal width in cm",
         "species": "target: setosa, versicolor or virginica (50 each)"},
    ), iris),
    "wine": (Sample(
        "wine", "Wine cultivars", "cultivar", "multiclass",
        "Chemical analysis of 178 Italian wines from 3 cultivars (class_0..class_2).",
        "UCI Wine dataset, via scikit-learn `sklearn.datasets.load_wine`.",
        "Forina, M. et al. PARVUS - An Extendible Package for Data Exploration, Classification "
        "and Correlation. Institute of Pharmaceutical and Food Analysis and Technologies, Genoa. " + UCI,
        UCI_LICENCE,
        {"alcohol": "alcohol (% vol)", "malic_acid": "malic acid (g/l)", "ash": "ash (g/l)",
         "alcalinity_of_ash": "alcalinity of ash", "magnesium": "magnesium (mg/l)",
         "total_phenols": "total phenols", "flavanoids": "flavanoids",
         "nonflavanoid_phenols": "non-flavanoid phenols", "proanthocyanins": "proanthocyanins",
         "color_intensity": "colour intensity", "hue": "hue",
         "od280_od315_of_diluted_wines": "OD280/OD315 ratio of diluted wines (protein content)",
         "proline": "proline (mg/l)",
         "cultivar": "target: class_0 (59), class_1 (71), class_2 (48)"},
    ), wine),
    "breast_cancer": (Sample(
        "breast_cancer", "Breast cancer (Wisconsin diagnostic)", "diagnosis", "binary",
        "Cell-nucleus measurements of 569 breast masses: malignant or benign.",
        "UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn `load_breast_cancer`.",
        "Street, W. N., Wolberg, W. H. and Mangasarian, O. L. (1993). Nuclear feature extraction "
        "for breast tumor diagnosis. IS&T/SPIE Biomedical Image Processing, vol. 1905, 861-870. " + UCI,
        UCI_LICENCE,
        {"mean_*": "mean over the nuclei in the image of: radius, texture, perimeter, area, "
                   "smoothness, compactness, concavity, concave points, symmetry, fractal dimension",
         "*_error": "standard error of the same ten measurements",
         "worst_*": "mean of the three largest values of the same ten measurements",
         "diagnosis": "target: malignant (212) or benign (357)"},
    ), breast_cancer),
    "diabetes": (Sample(
        "diabetes", "Diabetes progression", "progression", "regression",
        "442 diabetes patients: 10 baseline measurements, disease progression one year later.",
        "Efron et al. diabetes data, via scikit-learn `load_diabetes(scaled=False)` (original units).",
        "Efron, B., Hastie, T., Johnstone, I. and Tibshirani, R. (2004). Least Angle Regression. "
        "Annals of Statistics 32(2), 407-499.",
        "No explicit licence from the authors; redistributed with scikit-learn (BSD-3-Clause).",
        {"age": "age in years", "sex": "sex, coded 1 or 2", "bmi": "body mass index",
         "bp": "average blood pressure", "s1": "total serum cholesterol (tc)",
         "s2": "low-density lipoproteins (ldl)", "s3": "high-density lipoproteins (hdl)",
         "s4": "total cholesterol / HDL (tch)", "s5": "log of serum triglycerides (ltg), probably",
         "s6": "blood sugar level (glu)",
         "progression": "target: quantitative measure of disease progression after one year (25-346)"},
    ), diabetes),
    "digits": (Sample(
        "digits", "Handwritten digits (8x8)", "label", "multiclass",
        "1,797 handwritten digits as 8x8 grayscale images (pixels 0-16), labels 0-9.",
        "UCI Optical Recognition of Handwritten Digits (test part), via scikit-learn `load_digits`.",
        "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. " + UCI,
        UCI_LICENCE,
        {"px_R_C": "ink count (0-16) of the pixel in row R, column C (0-7) of the 8x8 image",
         "label": "target: the digit, 0-9"},
        image_shape=(1, 8, 8),
    ), digits),
    "tips": (Sample(
        "tips", "Restaurant tips", "tip", "regression",
        "244 restaurant bills with tips; mixes numbers and categories (sex, smoker, day, time).",
        "The `tips` data of Bryant & Smith, via plotly's bundled copy (`plotly.data.tips`).",
        "Bryant, P. G. and Smith, M. A. (1995). Practical Data Analysis: Case Studies in Business "
        "Statistics. Richard D. Irwin Publishing, Homewood, IL.",
        "No explicit licence from the authors; redistributed with plotly (MIT), as with seaborn-data.",
        {"total_bill": "total bill in US dollars", "sex": "sex of the bill payer (Female/Male)",
         "smoker": "whether the party included smokers (Yes/No)", "day": "day of the week (Thur-Sun)",
         "time": "Lunch or Dinner", "size": "number of people in the party",
         "tip": "target: tip in US dollars"},
    ), tips),
    "seattle_weather": (Sample(
        "seattle_weather", "Seattle daily weather, 2012-2015", "temp_max", "regression",
        "1,461 days of weather at Seattle-Tacoma airport: temperatures, rain and wind. Forecast tomorrow's "
        "high from the last 14 days.",
        "NOAA Global Historical Climatology Network daily records for Seattle (station USW00024233), as "
        "packaged by vega-datasets (`seattle-weather.csv`), via the `vega_datasets` package's local copy.",
        "Menne, M. J. et al. (2012). Global Historical Climatology Network - Daily (GHCN-Daily), Version 3. "
        "NOAA National Climatic Data Center. doi:10.7289/V5D21VHZ",
        "Public domain (US government work, NOAA); vega-datasets is BSD-3-Clause.",
        {"date": "the day (YYYY-MM-DD): the time column, one row per day with no gaps",
         "temp_max": "target: the day's highest temperature in degrees Celsius",
         "temp_min": "the day's lowest temperature in degrees Celsius",
         "precipitation": "rain (and melted snow) in millimetres",
         "wind": "average wind speed in metres per second",
         "weather": "the day's weather in a word (drizzle, rain, sun, snow, fog); text, so no model input"},
        sequence={"time_column": "date", "window": 14, "horizon": 1},
        result="`workbench train --data seattle_weather --target temp_max --model lstm --epochs 40 --device cpu` "
               "(14 days in, tomorrow's high out; seed 0): test MAE 2.12 °C against 2.22 °C for persistence "
               "(tomorrow as today) and 3.83 °C for seasonal naive (a week back). tests/test_sequence_runs.py "
               "checks that the LSTM beats persistence.",
    ), seattle_weather),
    "italy_power_demand": (Sample(
        "italy_power_demand", "Italy power demand (UCR)", "season", "binary",
        "1,096 days of Italy's electrical power demand, one row of 24 hourly values per day: tell the "
        "October-March days from the April-September ones by the shape of the day's demand.",
        "UCR Time Series Classification Archive, `ItalyPowerDemand` (its train and test parts together), "
        "via the copy bundled in the `aeon` package (`aeon.datasets.load_classification`).",
        "Keogh, E. et al. (2006). Intelligent icons: integrating lite-weight data mining and visualization "
        "into GUI operating systems. ICDM 2006. Dau, H. A. et al. (2019). The UCR Time Series "
        "Classification Archive. IEEE/CAA Journal of Automatica Sinica 6(6), 1293-1305.",
        "No explicit licence; the UCR archive is shared freely for research (cite the archive), and aeon "
        "(BSD-3-Clause) redistributes it.",
        {"h00 .. h23": "the demand in each hour of the day (00 to 23), z-normalised per day by the archive",
         "season": "target: oct_to_mar or apr_to_sep"},
        sequence={},
        result="`workbench train --data italy_power_demand --target season --model lstm --epochs 30 --device cpu` "
               "(seed 0): test accuracy 0.976 (the class prior: 0.50); cnn1d 0.970. tests/test_sequence_runs.py "
               "checks at least 0.93.",
    ), italy_power_demand),
    "basic_motions": (Sample(
        "basic_motions", "Basic motions (UCR, smart watch)", "activity", "multiclass",
        "80 recordings of 10 s from a smart watch's accelerometer and gyroscope (6 channels, 100 steps) "
        "while walking, standing, running or playing badminton; long format, one row per step.",
        "UCR/UEA multivariate archive, `BasicMotions` (train and test together), via the copy bundled in "
        "the `aeon` package (`aeon.datasets.load_classification`).",
        "Bagnall, A. et al. (2018). The UEA multivariate time series classification archive, 2018. "
        "arXiv:1811.00075.",
        "No explicit licence; the UEA archive is shared freely for research (cite the archive), and aeon "
        "(BSD-3-Clause) redistributes it.",
        {"recording": "which recording (0-79) the row belongs to: the series id",
         "step": "the step within the recording (0-99, 10 per second): the time column",
         "accel_x, accel_y, accel_z": "accelerometer along each axis",
         "gyro_x, gyro_y, gyro_z": "gyroscope around each axis",
         "activity": "target: walking, standing, running or badminton (one per recording, 20 each)"},
        sequence={"series_id": "recording", "time_column": "step"},
        result="`workbench train --data basic_motions --target activity --model cnn1d --epochs 150 --batch-size 16 "
               "--lr 0.003 --device cpu` (seed 0): test accuracy 0.92 on its 12 test recordings (the class prior: "
               "0.25); an LSTM with the same settings 0.75. One recording moves the test figure by 0.08.",
    ), basic_motions),
}


def _short_licence(licence: str) -> str:
    if licence.startswith("Public domain"):
        return "public domain"
    return licence.split(" (")[0] if licence.startswith("CC") else "none stated (see datasheet)"


def _datasheet(s: Sample, df: pd.DataFrame) -> str:
    shape = f"\n- **Image shape:** {list(s.image_shape)} (channels, height, width)" if s.image_shape else ""
    if s.sequence is not None:
        settings = ", ".join(f"{k}: {v}" for k, v in s.sequence.items()) or "one row per sequence (wide)"
        shape += f"\n- **Read as sequences:** {settings}"
    if s.result:
        shape += f"\n- **What a model reaches:** {s.result}"
    cols = "\n".join(f"| `{c}` | {what} |" for c, what in s.columns.items())
    note = ""
    if s.name == "tips":
        note = ("\n## Why this target\n\n`tip` (regression) keeps all four categorical columns as "
                "features, so this sample exercises one-hot encoding and the per-column grouping of "
                "explanations. `time` or `smoker` work as classification targets too.\n")
    return f"""# {s.title} (`{s.name}`)

{s.description}

- **Source:** {s.source}
- **Citation:** {s.citation}
- **Licence:** {s.licence}
- **Rows:** {len(df):,}
- **Columns:** {df.shape[1]} ({df.shape[1] - 1} features + target)
- **Task:** {s.task}
- **Target:** `{s.target}`{shape}
- **File:** `{s.name}.csv` (UTF-8, comma-separated), written by `generate.py`

## Columns

| Column | Meaning |
|---|---|
{cols}
{note}"""


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    entries, rows = [], []
    for name, (sample, build) in SAMPLES.items():
        df = build()  # type: ignore[operator]
        assert sample.target in df.columns, name
        df.to_csv(HERE / f"{name}.csv", index=False, lineterminator="\n")
        (HERE / f"{name}.md").write_text(_datasheet(sample, df), encoding="utf-8")
        entries.append({
            "name": name, "file": f"{name}.csv", "target": sample.target, "task": sample.task,
            "image_shape": list(sample.image_shape) if sample.image_shape else None,
            "description": sample.description,
            **({"sequence": sample.sequence} if sample.sequence is not None else {}),
        })
        rows.append(f"| [{name}]({name}.md) | {len(df):,} | {df.shape[1] - 1} | `{sample.target}` "
                    f"| {sample.task} | {_short_licence(sample.licence)} |")
        log.info("wrote %s: %d rows x %d columns", name, *df.shape)
    image_entries, image_rows = write_image_samples(HERE)
    entries += image_entries
    rows += image_rows
    header = "# Generated by sample_data/generate.py; `core.data.catalog` reads it.\n"
    (HERE / "catalog.yaml").write_text(
        header + yaml.safe_dump({"samples": entries}, sort_keys=False, width=120), encoding="utf-8")
    (HERE / "README.md").write_text(
        "# Sample datasets\n\nSmall real datasets that ship with Workbench, each with a datasheet. "
        "They come from data bundled with installed packages (scikit-learn, plotly, scikit-image, "
        "vega_datasets, aeon); "
        "`python sample_data/generate.py` rewrites every file here.\n\n"
        "| Dataset | Rows | Features | Target | Task | Licence |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
