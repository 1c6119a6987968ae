# One image for every J-PASS service; docker-compose picks the process with `command`.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml constraints.txt ./
COPY shared ./shared
COPY services ./services
COPY devtools ./devtools
RUN pip install -c constraints.txt . \
 && useradd --create-home --uid 10001 jpass
USER jpass

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:8000/{os.environ[\"JPASS_SERVICE\"]}/healthz', timeout=2)"
CMD ["sh", "-c", "exec uvicorn services.${JPASS_SERVICE}.main:create_app --factory --host 0.0.0.0 --port 8000 --proxy-headers"]
