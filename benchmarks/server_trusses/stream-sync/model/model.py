class Model:
    def predict(self, model_input):
        for i in range(100):
            yield f"chunk {i}\n"
