"""What a person sees: the MLflow UI of a tracking server after a sweep, in headless Chromium.

Run by ``make test-e2e`` (``pytest -m e2e``), not by ``make test``. Screenshots go to each
test's tmp dir and, when ``$BENCH_E2E_SCREENSHOTS`` is set, there too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from .mlflow_server import Sweep, run_sweep
from .mlflow_server import mlflow_server as mlflow_server  # the fixture

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if path is None]
UI_TIMEOUT_S = 60  # the React app loads its chunks, then queries the server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{' and '.join(MISSING)} not found: apt-get install chromium chromium-driver "
        "(make test-e2e does)",
    ),
]


@pytest.fixture(scope="module")
def sweep(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    return run_sweep(
        mlflow_server,
        tmp_path_factory.mktemp("sweep"),
        "detector=yunet,mediapipe_detection",
        "dataset.folds=[0]",
        "dataset.pairs_per_fold=20",
    )


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    """Debian's chromium through Debian's chromedriver: nothing is downloaded."""
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: Chromium's sandbox refuses to run as root, which CI and containers are.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: WebDriver, *texts: str) -> None:
    """Until the page shows every one of ``texts`` (the UI renders asynchronously)."""

    def shown(driver: WebDriver) -> bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return all(text in body for text in texts)

    WebDriverWait(driver, UI_TIMEOUT_S).until(shown, f"{texts} not shown on {driver.current_url}")


def close_assistant(driver: WebDriver) -> None:
    """MLflow 3 opens its chat side panel by default; closed, the tables get the width."""
    for button in driver.find_elements(By.CSS_SELECTOR, "[data-component-id$='assistant.chat_panel.close']"):
        button.click()


def screenshot(driver: WebDriver, name: str, tmp_path: Path) -> None:
    folders = [tmp_path]
    if target := os.environ.get("BENCH_E2E_SCREENSHOTS"):
        folders.append(Path(target))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(folder / name)), folder / name


def test_runs_table_shows_the_sweep(browser: WebDriver, sweep: Sweep, tmp_path: Path) -> None:
    # workflowType: MLflow 3 would otherwise open the GenAI overview of the experiment.
    browser.get(f"{sweep.uri}/#/experiments/{sweep.experiment_id}/runs?workflowType=machine_learning")
    wait_for_text(browser, sweep.parent.info.run_name)
    close_assistant(browser)
    # The children are folded under their parent: unfold them with the button in its name cell.
    parent_cell = f"//a[contains(@href, '/runs/{sweep.parent.info.run_id}')]/ancestor::div[@role='gridcell']"
    browser.find_element(By.XPATH, f"{parent_cell}//button").click()
    wait_for_text(browser, *(child.info.run_name for child in sweep.children))
    screenshot(browser, "runs_table.png", tmp_path)


def test_compare_view_of_the_children(browser: WebDriver, sweep: Sweep, tmp_path: Path) -> None:
    runs = json.dumps([child.info.run_id for child in sweep.children])
    browser.get(f"{sweep.uri}/#/compare-runs?runs={runs}&experiments={json.dumps([sweep.experiment_id])}")
    # "accuracy": the first metric (the metrics table renders only the rows in view).
    wait_for_text(browser, *(child.info.run_name for child in sweep.children), "accuracy")
    close_assistant(browser)
    screenshot(browser, "compare_runs.png", tmp_path)
    metrics = browser.find_element(By.XPATH, "//*[normalize-space(text())='Metrics']")
    browser.execute_script("arguments[0].scrollIntoView();", metrics)
    screenshot(browser, "compare_runs_metrics.png", tmp_path)
