# The fangpin image: Apache Airflow 3.3.2 (Python 3.11) + the CJK fonts and HarfBuzz subsetting
# WeasyPrint needs for the Chinese PDFs + the pinned packages + this project.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk libharfbuzz-subset0 fontconfig \
 && fc-cache -f \
 && apt-get autoremove -yqq --purge && apt-get clean && rm -rf /var/lib/apt/lists/*

USER airflow
WORKDIR /opt/fangpin
# Dependencies first (a layer that changes only with requirements.txt). Airflow stays at the
# image's version; everything else is pinned in requirements.txt.
COPY --chown=airflow:root requirements.txt /opt/fangpin/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/fangpin/requirements.txt

# The project: the package (editable, so its templates/ and expectations/ resolve next to it).
COPY --chown=airflow:root pyproject.toml README.md /opt/fangpin/
COPY --chown=airflow:root include /opt/fangpin/include
COPY --chown=airflow:root templates /opt/fangpin/templates
COPY --chown=airflow:root expectations /opt/fangpin/expectations
RUN pip install --no-cache-dir --no-deps -e /opt/fangpin \
 && python -c "import fangpin.orchestration, weasyprint" \
 && fc-list :lang=zh family | grep -q "CJK SC"

# DAGs and plugins are baked in too (compose mounts the checkout over them in development).
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
ENV FANGPIN_TEMPLATES_DIR=/opt/fangpin/templates \
    FANGPIN_EXPECTATIONS_DIR=/opt/fangpin/expectations \
    TZ=Asia/Shanghai
WORKDIR /opt/airflow
