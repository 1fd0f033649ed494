class Model:
    async def predict(self, model_input):
        return model_input
