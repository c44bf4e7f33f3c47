"A toy trainer task (8 px unconditional DDPM) run as a script: `python tests/toy_train.py OUT [k=v ...]`, also under `accelerate launch`."
import sys
import numpy as np, torch
from diffusers import UNet2DModel, DDPMScheduler, DDPMPipeline
from simgen_nb.train import Task, TrainConfig, train


class ToyTask(Task):
    model_type = 'toy'
    def __init__(self, nan_at=None, poison_at=None):
        self.config, self.nan_at, self.poison_at = {'size': 8}, nan_at, poison_at
        self.scheduler = DDPMScheduler(num_train_timesteps=100)
    def build_model(self):
        return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 8), layers_per_block=1,
                           norm_num_groups=4, down_block_types=('DownBlock2D',) * 2, up_block_types=('UpBlock2D',) * 2)
    def loss(self, model, batch, step, rng):
        x = batch['image']
        t, noise = rng.randint(100), rng.randn(*x.shape[1:])
        mse = torch.nn.functional.mse_loss(model(self.scheduler.add_noise(x, noise, t), t).sample, noise)
        if step == self.nan_at: mse = mse * float('nan')
        if step == self.poison_at:   # the loss stays finite; the update it makes turns the weights into NaN (inf gradients)
            for p in model.parameters(): p.register_hook(lambda g: torch.full_like(g, float('inf')))
        return {'loss': mse, 'mse': mse.detach()}
    def pipeline(self, ema_model): return DDPMPipeline(unet=ema_model, scheduler=self.scheduler)


class ToyData(torch.utils.data.Dataset):
    def __init__(self, n=12): self.x = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {'image': self.x[i], 'id': f'{i:03d}'}


if __name__ == '__main__':
    torch.set_num_threads(1)
    out, kw = sys.argv[1], dict(a.split('=') for a in sys.argv[2:])
    stop = kw.pop('stop_at', None); resume = kw.pop('resume', None); nan_at = kw.pop('nan_at', None)
    cfg = TrainConfig.for_profile('ci', **{k: int(v) for k, v in kw.items()})
    train(ToyTask(None if nan_at is None else int(nan_at)), ToyData(), cfg, out, resume=resume,
          stop_at_step=None if stop is None else int(stop), progress=False)
