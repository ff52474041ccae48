"""Tests for nnlab.components.optimizers: torch.optim golden trajectories, hand-computed steps from the
docstring formulas, the generic optimizer contract (driven by the registry) and option validation.

No torch needed: the golden trajectories below are hard-coded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnlab.components.optimizers import optimizers

# ----------------------------------------------------------------------------- golden values
# GOLDEN holds p after each of 5 steps, in float64, from torch 2.13.0 (torch.optim.SGD, Adagrad,
# Adadelta, RMSprop, Adam, AdamW, NAdam, Adamax; foreach=False), on the quadratic
# loss = 0.5 p^T A p + b^T p (gradient A p + b) from p0 = [[1, -2], [0.5, 3]] flattened.
# They were produced by this script (torch==2.13.0, numpy), pasted verbatim:
#
# """Generate golden trajectories from torch.optim (run with torch==2.13.0)."""
# import torch
#
# torch.set_default_dtype(torch.float64)
# A = torch.tensor([[4.0, 1.0, 0.0, 0.5],
#                   [1.0, 3.0, 0.5, 0.0],
#                   [0.0, 0.5, 2.0, 0.25],
#                   [0.5, 0.0, 0.25, 1.0]])
# b = torch.tensor([0.5, -1.0, 0.25, 2.0])
# P0 = [1.0, -2.0, 0.5, 3.0]  # [[1, -2], [0.5, 3]] flattened
#
# # name: (torch class, torch kwargs, lrs for the 5 steps)
# CASES = {
#     "sgd": ("SGD", {}, [0.05] * 5),
#     "sgd_momentum": ("SGD", {"momentum": 0.8}, [0.05] * 5),
#     "sgd_momentum_schedule": ("SGD", {"momentum": 0.8}, [0.1, 0.05, 0.02, 0.08, 0.03]),
#     "sgd_nesterov": ("SGD", {"momentum": 0.8, "nesterov": True}, [0.05] * 5),
#     "sgd_nesterov_schedule": ("SGD", {"momentum": 0.8, "nesterov": True}, [0.1, 0.05, 0.02, 0.08, 0.03]),
#     "momentum": ("SGD", {"momentum": 0.9}, [0.03] * 5),
#     "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, [0.03] * 5),
#     "adagrad": ("Adagrad", {}, [0.2] * 5),
#     "adagrad_init": ("Adagrad", {"initial_accumulator_value": 0.5, "eps": 1e-3}, [0.2] * 5),
#     "adadelta": ("Adadelta", {}, [0.7] * 5),
#     "adadelta_rho": ("Adadelta", {"rho": 0.8, "eps": 1e-3}, [2.0] * 5),
#     "rmsprop": ("RMSprop", {}, [0.02] * 5),
#     "rmsprop_rho": ("RMSprop", {"alpha": 0.9, "eps": 1e-4}, [0.02] * 5),
#     "rmsprop_centered": ("RMSprop", {"centered": True}, [0.02] * 5),
#     "rmsprop_momentum": ("RMSprop", {"momentum": 0.5}, [0.02] * 5),
#     "rmsprop_centered_momentum": ("RMSprop", {"centered": True, "momentum": 0.5}, [0.02] * 5),
#     "adam": ("Adam", {}, [0.1] * 5),
#     "adam_betas": ("Adam", {"betas": (0.8, 0.99), "eps": 1e-3}, [0.1, 0.2, 0.05, 0.1, 0.3]),
#     "adam_amsgrad": ("Adam", {"betas": (0.5, 0.5), "amsgrad": True}, [0.8] * 5),
#     "adamw": ("AdamW", {"weight_decay": 0.1}, [0.1] * 5),
#     "adamw_schedule": ("AdamW", {"weight_decay": 0.5, "betas": (0.8, 0.99)}, [0.1, 0.2, 0.05, 0.1, 0.3]),
#     "nadam": ("NAdam", {}, [0.1] * 5),
#     "nadam_decay": ("NAdam", {"betas": (0.8, 0.99), "momentum_decay": 0.1}, [0.1, 0.2, 0.05, 0.1, 0.3]),
#     "adamax": ("Adamax", {}, [0.1] * 5),
#     "adamax_betas": ("Adamax", {"betas": (0.8, 0.5), "eps": 1e-3}, [0.1, 0.2, 0.05, 0.1, 0.3]),
# }
#
# print(f"# torch {torch.__version__}")
# print("GOLDEN = {")
# for name, (cls, kw, lrs) in CASES.items():
#     p = torch.tensor(P0, requires_grad=True)
#     opt = getattr(torch.optim, cls)([p], lr=lrs[0], foreach=False, **kw)
#     rows = []
#     for lr in lrs:
#         for grp in opt.param_groups:
#             grp["lr"] = lr
#         opt.zero_grad()
#         loss = 0.5 * p @ A @ p + b @ p
#         loss.backward()
#         opt.step()
#         rows.append([float(x) for x in p.detach()])
#     print(f"    {name!r}: [")
#     for r in rows:
#         print("        [" + ", ".join(f"{x!r}" for x in r) + "],")
#     print("    ],")
# print("}")
#
# Its output (torch 2.13.0+cpu):

GOLDEN = {
    'sgd': [
        [0.8, -1.7125, 0.45, 2.71875],
        [0.63265625, -1.456875, 0.401328125, 2.4571875],
        [0.4925390625, -1.230009765625, 0.35440234374999996, 2.2134951171874997],
        [0.3751943603515625, -1.0289953125, 0.3095436645507812, 1.9860768554687498],
        [0.27695333251953125, -0.8511443252563476, 0.2669882202148437, 1.7735238578796384],
    ],
    'sgd_momentum': [
        [0.8, -1.7125, 0.45, 2.71875],
        [0.47265625, -1.226875, 0.361328125, 2.2321875],
        [0.09678906249999993, -0.6370097656249999, 0.24452734375, 1.6149951171875],
        [-0.25678688964843766, -0.030518749999999782, 0.10987178955078121, 0.93501513671875],
        [-0.535139714355469, 0.5193444247436526, -0.03226455322265634, 0.24932667037963863],
    ],
    'sgd_momentum_schedule': [
        [0.6, -1.425, 0.4, 2.4375],
        [0.3053125, -0.9712500000000001, 0.31265625, 1.9706249999999998],
        [0.17630625, -0.7570078125, 0.26705937500000004, 1.7371960937499997],
        [-0.3418589687500001, 0.1654621875000001, 0.05395626562500005, 0.6788544687499997],
        [-0.48643214078125013, 0.46675801570312514, -0.02828538445312494, 0.28570955972656215],
    ],
    'sgd_nesterov': [
        [0.64, -1.4825, 0.41, 2.49375],
        [0.25780624999999996, -0.8842749999999999, 0.29230312499999994, 1.8712875],
        [-0.0774071875000001, -0.2973969531249998, 0.15880696874999994, 1.2033735234374998],
        [-0.3267936827734376, 0.21226830750000023, 0.021643372988281166, 0.5435795479687496],
        [-0.47743593818359387, 0.605517770140137, -0.10747557075390635, -0.07078418501586961],
    ],
    'sgd_nesterov_schedule': [
        [0.2799999999999999, -0.965, 0.32, 1.9875],
        [0.0036124999999998923, -0.4700499999999999, 0.20660625, 1.428825],
        [-0.0857687500000001, -0.2840295624999999, 0.156516075, 1.19200681875],
        [-0.3907461839500001, 0.43161115110000015, -0.05704603157500004, 0.1979465281499998],
        [-0.4422362244962501, 0.6083925098876252, -0.12552301358462506, -0.13112236805718772],
    ],
    'momentum': [
        [0.88, -1.8275, 0.47, 2.83125],
        [0.6637562499999999, -1.5112249999999998, 0.413478125, 2.5177125],
        [0.3820571874999999, -1.0866821093749999, 0.33408528125, 2.0869399453125],
        [0.06897753285156234, -0.5932651128124999, 0.23573478705078124, 1.5683999503125],
        [-0.24179950614453144, -0.07140130354443354, 0.12271123211328125, 0.9918592824074706],
    ],
    'nesterov': [
        [0.772, -1.67225, 0.443, 2.679375],
        [0.4892400625, -1.24619975, 0.36342603125, 2.247648375],
        [0.18958160406249996, -0.7665264432031249, 0.26579900159375, 1.7376116673984372],
        [-0.09463175295327737, -0.2749523149158124, 0.1551915616860488, 1.1800884267065155],
        [-0.33857161602291963, 0.19207064473540716, 0.03720682648920076, 0.602807004902016],
    ],
    'adagrad': [
        [0.800000000005, -1.8000000000034782, 0.30000000002, 2.8000000000035556],
        [0.6727234090479217, -1.6624160634425518, 0.19100232990544092, 2.663190207735306],
        [0.5761318703457472, -1.5523913454116378, 0.11813722939878032, 2.5536611543151286],
        [0.4975850391391843, -1.4588219065619623, 0.06562450346430027, 2.460203430791831],
        [0.4313104530192463, -1.3765277329955103, 0.026197609127144736, 2.3776314108738004],
    ],
    'adagrad_init': [
        [0.8031020873483457, -1.8015296065976056, 0.3368339083703937, 2.8015967575916596],
        [0.6767484094200821, -1.6647339883796715, 0.2352023010273993, 2.665205347812917],
        [0.5805771061188432, -1.5551955430054043, 0.1626250732332304, 2.5558637336952748],
        [0.5022423410004961, -1.461948112369487, 0.1076628811266094, 2.462517250624749],
        [0.43606862747402864, -1.379871098192113, 0.0646388369338019, 2.380026408098765],
    ],
    'adadelta': [
        [0.99778640632963, -1.9977864059726411, 0.49778641670577095, 2.9977864059876844],
        [0.9955173940321909, -1.9955159279352674, 0.495519508577041, 2.995516047726861],
        [0.9932118297416275, -1.993206853679949, 0.4932189712149293, 2.9932072591475896],
        [0.990879010812254, -1.9908681571255264, 0.4908945633015982, 2.9908690386735373],
        [0.9885244565165685, -1.988505145427747, 0.4885521041428149, 2.9885067083896164],
    ],
    'adadelta_rho': [
        [0.8586007356719462, -1.8585893360362655, 0.35893087682828034, 2.8585898164716204],
        [0.7186612054540145, -1.712053209583237, 0.23049740206578617, 2.7125544497590703],
        [0.5869266257611199, -1.5641016470786133, 0.1267152984988723, 2.5654516568665793],
        [0.46659574333798276, -1.4170367660258214, 0.04911557503998497, 2.418953057237079],
        [0.35895285480970157, -1.2725700102895243, -0.0069737277674032025, 2.2739204704020612],
    ],
    'rmsprop': [
        [0.800000005, -1.8000000034782608, 0.3000000199999981, 2.8000000035555557],
        [0.6723430593487961, -1.662052257712946, 0.1906172024889536, 2.6628247872774917],
        [0.5751924401486685, -1.5514467802470735, 0.11730281314826149, 2.5527155564034336],
        [0.495981840897234, -1.4571382477942336, 0.06437261814064457, 2.4585184607235098],
        [0.42898015621770885, -1.3739797440962265, 0.02459460920230748, 2.3750775518432437],
    ],
    'rmsprop_rho': [
        [0.936759446401379, -1.9367579248662217, 0.43677444047407643, 2.936758002152312],
        [0.8921357423604462, -1.8912399283855, 0.3935295287841454, 2.8913110479068806],
        [0.8554164580433722, -1.853318777966639, 0.35869671173316103, 2.8534725497738327],
        [0.8232629211296698, -1.8197884411454477, 0.32874797494358793, 2.820025607363171],
        [0.7941399012347069, -1.7891636885789586, 0.30207867830797136, 2.789481428843745],
    ],
    'rmsprop_centered': [
        [0.7989924419986626, -1.7989924404615525, 0.29899245715017586, 2.798992440539628],
        [0.6701398023282507, -1.6596725698212542, 0.18876392242895002, 2.660457613527325],
        [0.571710585893743, -1.5474393994031215, 0.11481760235711587, 2.548727787010915],
        [0.4911975993136692, -1.4513055783016067, 0.061461699108706615, 2.4526956999826455],
        [0.42290895604974466, -1.3661628192552155, 0.02142591618773386, 2.367234803641634],
    ],
    'rmsprop_momentum': [
        [0.8000000049999999, -1.8000000034782608, 0.30000001999999804, 2.8000000035555557],
        [0.572343061848796, -1.5620522594520763, 0.0906172124889526, 2.5628247890552696],
        [0.3708476221723088, -1.3347090517897207, -0.06185173516667895, 2.336831044663413],
        [0.2093021904438762, -1.1314321046561913, -0.1452039813487034, 2.1344898088354083],
        [0.08666938543982448, -0.953759952636989, -0.17488200276246194, 1.9560778249520354],
    ],
    'rmsprop_centered_momentum': [
        [0.7989924419986626, -1.7989924404615525, 0.29899245715017586, 2.798992440539628],
        [0.5696360233275819, -1.5591687900520304, 0.08826015100403795, 2.5599538337971386],
        [0.3662434478228298, -1.3293088799269461, -0.06489355019679824, 2.33146721067099],
        [0.20303747665038516, -1.1230967816838955, -0.1479015747830151, 2.126186028519575],
        [0.07925304367257796, -0.9422695813960051, -0.17669448278923777, 1.9445090027453815],
    ],
    'adam': [
        [0.9000000002499999, -1.900000000173913, 0.400000001, 2.9000000001777777],
        [0.8003427673933445, -1.80007762273485, 0.30095427817678844, 2.8000948472840155],
        [0.7013092085017242, -1.7002879718122503, 0.20384675634249716, 2.7003516774004193],
        [0.6032257022193424, -1.6006892901326835, 0.11001659311374828, 2.600840139426536],
        [0.5064686819342394, -1.501343755741364, 0.02120836199381175, 2.5016318694723982],
    ],
    'adam_betas': [
        [0.9000249937515621, -1.900017388280299, 0.4000999000999001, 2.900017774617846],
        [0.7012555514048159, -1.7003504828285319, 0.2032502998516406, 2.7004139073078677],
        [0.6526913852781915, -1.6506784652969595, 0.15749352038750103, 2.650809625983768],
        [0.5571398106713306, -1.5516728152840982, 0.07133674324161414, 2.552003229512226],
        [0.27714114822009367, -1.2560713872516858, -0.1638601581125343, 2.2571991633262463],
    ],
    'adam_amsgrad': [
        [0.2000000019999999, -1.2000000013913041, -0.29999999200000016, 2.200000001422222],
        [-0.3225578093890641, -0.4051733420979098, -0.365319727903224, 1.407799413947823],
        [-0.49014652004042336, 0.23240296634473012, -0.19521983339461657, 0.7122536775972595],
        [-0.44372758708456195, 0.6256480103156319, -0.20292423199682477, 0.13278073245060595],
        [-0.33714601852072856, 0.7878255566928278, -0.31601193339922357, -0.3364901797274041],
    ],
    'adamw': [
        [0.8900000002499999, -1.880000000173913, 0.395000001, 2.8700000001777775],
        [0.7814908051120062, -1.7613063453969808, 0.2920712775941938, 2.7414180542584394],
        [0.6747776499485754, -1.6439811313694215, 0.1922412399201893, 2.6143229892372046],
        [0.5702139610266901, -1.5280896892076383, 0.09689487636652805, 2.488785601401572],
        [0.4682052511598255, -1.413701427570311, 0.00780875218023494, 2.36487794712327],
    ],
    'adamw_schedule': [
        [0.8500000002499999, -1.800000000173913, 0.37500000099999997, 2.7500000001777773],
        [0.5669788313084486, -1.420861062678921, 0.14140625310238078, 2.2758004838311834],
        [0.5052800830854878, -1.336298694183176, 0.09348454446521627, 2.169785518017092],
        [0.38772656023826635, -1.172390483499562, 0.007196721543497847, 1.9639458292748964],
        [0.06387461998023525, -0.7092020082222918, -0.2098329985986916, 1.3807349153285415],
    ],
    'nadam': [
        [0.894354822428574, -1.8943548223481919, 0.394354823220913, 2.8943548223522746],
        [0.819438054244133, -1.8169637941520396, 0.32342371465226744, 2.817156924005098],
        [0.7513613557975819, -1.745224971041919, 0.2614303054078459, 2.7456414405236167],
        [0.6851823325851254, -1.6741325165421632, 0.20365727970950456, 2.6747827296036886],
        [0.619562071045994, -1.602157738291984, 0.14917232364941077, 2.6030314667799415],
    ],
    'nadam_decay': [
        [0.8903763175598175, -1.8903763174764083, 0.3903763183819952, 2.8903763174806447],
        [0.724283039451511, -1.7188871689171747, 0.23304270439139896, 2.719307085652107],
        [0.6872541034471188, -1.6782687170853576, 0.20228190933342788, 2.6788872896323417],
        [0.6118412457183677, -1.5957116287438515, 0.1402428969094996, 2.5966335202719435],
        [0.3879577801678204, -1.3441628373837728, -0.03129122810952252, 2.3458141909250614],
    ],
    'adamax': [
        [0.9000000002499999, -1.900000000173913, 0.400000001, 2.9000000001777777],
        [0.8045097734074999, -1.8012742723313555, 0.3091196477674259, 2.8015389662140935],
        [0.7135296173539359, -1.7039048952291331, 0.22701874280084905, 2.7046346436383413],
        [0.6270476061592579, -1.6079743019681685, 0.15332647420241585, 2.6093019449481827],
        [0.5450395348667763, -1.513564827653615, 0.08764437020785736, 2.5155529216030295],
    ],
    'adamax_betas': [
        [0.9000249937515621, -1.900017388280299, 0.4000999000999001, 2.900017774617846],
        [0.6915609549002874, -1.697672197858797, 0.1815350780501407, 2.697201687812689],
        [0.6325943558170547, -1.6457041018481953, 0.10047451519407043, 2.644663619819315],
        [0.5146963707690475, -1.5423700699657097, -0.09561625750130844, 2.539888753476296],
        [0.13131907844666213, -1.2313917506361272, -0.8745433006861965, 2.2200042403683766],
    ],
}

# nnlab spec and the learning rate of each of the 5 steps, per golden case (the torch kwargs
# are in the generator above; rho is torch's alpha for rmsprop, beta1/beta2 are torch's betas,
# initial_accumulator is torch's initial_accumulator_value).
SCHED = [0.1, 0.05, 0.02, 0.08, 0.03]
VAR = [0.1, 0.2, 0.05, 0.1, 0.3]
CASES = {
    "sgd": ({"name": "sgd"}, [0.05] * 5),
    "sgd_momentum": ({"name": "sgd", "momentum": 0.8}, [0.05] * 5),
    "sgd_momentum_schedule": ({"name": "sgd", "momentum": 0.8}, SCHED),
    "sgd_nesterov": ({"name": "sgd", "momentum": 0.8, "nesterov": True}, [0.05] * 5),
    "sgd_nesterov_schedule": ({"name": "sgd", "momentum": 0.8, "nesterov": True}, SCHED),
    "momentum": ({"name": "momentum"}, [0.03] * 5),
    "nesterov": ({"name": "nesterov"}, [0.03] * 5),
    "adagrad": ({"name": "adagrad"}, [0.2] * 5),
    "adagrad_init": ({"name": "adagrad", "initial_accumulator": 0.5, "eps": 1e-3}, [0.2] * 5),
    "adadelta": ({"name": "adadelta"}, [0.7] * 5),
    "adadelta_rho": ({"name": "adadelta", "rho": 0.8, "eps": 1e-3}, [2.0] * 5),
    "rmsprop": ({"name": "rmsprop"}, [0.02] * 5),
    "rmsprop_rho": ({"name": "rmsprop", "rho": 0.9, "eps": 1e-4}, [0.02] * 5),
    "rmsprop_centered": ({"name": "rmsprop", "centered": True}, [0.02] * 5),
    "rmsprop_momentum": ({"name": "rmsprop", "momentum": 0.5}, [0.02] * 5),
    "rmsprop_centered_momentum": ({"name": "rmsprop", "centered": True, "momentum": 0.5}, [0.02] * 5),
    "adam": ({"name": "adam"}, [0.1] * 5),
    "adam_betas": ({"name": "adam", "beta1": 0.8, "beta2": 0.99, "eps": 1e-3}, VAR),
    "adam_amsgrad": ({"name": "adam", "beta1": 0.5, "beta2": 0.5, "amsgrad": True}, [0.8] * 5),
    "adamw": ({"name": "adamw", "weight_decay": 0.1}, [0.1] * 5),
    "adamw_schedule": ({"name": "adamw", "weight_decay": 0.5, "beta1": 0.8, "beta2": 0.99}, VAR),
    "nadam": ({"name": "nadam"}, [0.1] * 5),
    "nadam_decay": ({"name": "nadam", "beta1": 0.8, "beta2": 0.99, "momentum_decay": 0.1}, VAR),
    "adamax": ({"name": "adamax"}, [0.1] * 5),
    "adamax_betas": ({"name": "adamax", "beta1": 0.8, "beta2": 0.5, "eps": 1e-3}, VAR),
}

# torch 2.13.0 constructor defaults (inspect.signature), in nnlab's option names
TORCH_DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "nesterov": False},
    "momentum": {"lr": 1e-3, "momentum": 0.9},  # torch.optim.SGD(momentum=0.9)
    "nesterov": {"lr": 1e-3, "momentum": 0.9},  # torch.optim.SGD(momentum=0.9, nesterov=True)
    "adagrad": {"lr": 1e-2, "eps": 1e-10, "initial_accumulator": 0.0},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    "rmsprop": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False,
              "weight_decay": 1e-2},
    "nadam": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 4e-3},
    "adamax": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    # torch.optim.LBFGS; nnlab's history (torch's history_size 100) and line_search (torch's None) differ
    "lbfgs": {"lr": 1.0, "max_iter": 20, "tolerance_grad": 1e-7, "tolerance_change": 1e-9},
}

# the optimizers with opt.step(p, g, lr); closure-based ones (lbfgs) are tested in tests/test_lbfgs.py
STEPPED = [n for n in optimizers.names() if not getattr(optimizers.get(n).obj, "needs_closure", False)]

A = np.array([[4.0, 1.0, 0.0, 0.5],
              [1.0, 3.0, 0.5, 0.0],
              [0.0, 0.5, 2.0, 0.25],
              [0.5, 0.0, 0.25, 1.0]])
B = np.array([0.5, -1.0, 0.25, 2.0])
P0 = [1.0, -2.0, 0.5, 3.0]


def loss(p):
    return 0.5 * p @ A @ p + B @ p


def grad(p):
    return (A.astype(p.dtype) @ p + B.astype(p.dtype)).astype(p.dtype)


def trajectory(spec, lrs, dtype=np.float64):
    opt = optimizers.build(spec)
    p = np.array(P0, dtype=dtype)
    out = []
    for lr in lrs:
        opt.step(p, grad(p), lr)
        out.append(p.copy())
    return np.array(out), opt, p


def run(spec, gs, lrs, p0=1.0, n_decay=None):
    """Steps on a scalar (or vector) p from p0 with the given gradients; returns p after each step."""
    opt = optimizers.build(spec)
    p = np.array(p0, dtype=np.float64).reshape(-1)
    out = []
    for g, lr in zip(gs, lrs):
        opt.step(p, np.array(g, dtype=np.float64).reshape(p.shape), lr, n_decay)
        out.append(p.copy())
    return out


# ----------------------------------------------------------------------------- golden tests


TORCH_TWINS = [n for n in optimizers.names() if optimizers.get(n).obj.torch]  # an optimizer torch lacks: none


def test_every_optimizer_that_torch_has_has_its_golden_trajectory():
    covered = {spec["name"] for spec, _ in CASES.values()}
    missing = set(STEPPED) & set(TORCH_TWINS) - covered
    assert not missing, f"optimizers without a torch golden trajectory: {sorted(missing)}"
    assert set(CASES) == set(GOLDEN)


def test_defaults_match_torch():
    assert set(TORCH_DEFAULTS) == set(TORCH_TWINS)
    for comp in optimizers:
        if comp.name not in TORCH_DEFAULTS:
            continue
        defaults = comp.defaults()
        for key, value in TORCH_DEFAULTS[comp.name].items():
            assert defaults[key] == value, (comp.name, key)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_float64(case):
    spec, lrs = CASES[case]
    errors = []
    resolved = optimizers.resolve(spec, "train.optimizer", errors)
    assert errors == []
    out, _, _ = trajectory(resolved, lrs)
    np.testing.assert_allclose(out, GOLDEN[case], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("case", ["sgd_momentum", "sgd_nesterov", "momentum", "nesterov"])
def test_cs231n_form_matches_torch_at_constant_lr(case):
    spec, lrs = CASES[case]
    out, _, _ = trajectory({**spec, "form": "cs231n"}, lrs)
    np.testing.assert_allclose(out, GOLDEN[case], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", ["sgd_momentum_schedule", "sgd_nesterov_schedule"])
def test_cs231n_form_differs_from_torch_when_lr_changes(case):
    spec, lrs = CASES[case]
    out, _, _ = trajectory({**spec, "form": "cs231n"}, lrs)
    np.testing.assert_allclose(out[0], GOLDEN[case][0], rtol=1e-13)  # same first step
    assert np.max(np.abs(out[-1] - np.array(GOLDEN[case][-1]))) > 0.1


@pytest.mark.parametrize("case", list(CASES))
def test_float32_tracks_torch_and_stays_float32(case):
    # torch's own float32 run of these cases is within 5e-7 of the float64 golden values
    spec, lrs = CASES[case]
    out, opt, p = trajectory(spec, lrs, np.float32)
    assert p.dtype == np.float32 and out.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.state.values())
    np.testing.assert_allclose(out, GOLDEN[case], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- hand-computed steps


def test_sgd_plain_by_hand():
    p = np.array([1.0, -2.0])
    optimizers.build({"name": "sgd"}).step(p, np.array([0.5, -1.0]), 0.1)
    np.testing.assert_allclose(p, [0.95, -1.9], rtol=1e-15)


def test_sgd_momentum_torch_form_by_hand():
    # b1 = g1 = 2, p = 1 - 0.1*2 = 0.8;  b2 = 0.9*2 + 1 = 2.8, p = 0.8 - 0.1*2.8 = 0.52
    out = run({"name": "sgd", "momentum": 0.9}, [2.0, 1.0], [0.1, 0.1])
    np.testing.assert_allclose(np.ravel(out), [0.8, 0.52], rtol=1e-14)
    # nesterov: d1 = 2 + 0.9*2 = 3.8, p = 0.62;  b2 = 2.8, d2 = 1 + 2.52 = 3.52, p = 0.268
    out = run({"name": "sgd", "momentum": 0.9, "nesterov": True}, [2.0, 1.0], [0.1, 0.1])
    np.testing.assert_allclose(np.ravel(out), [0.62, 0.268], rtol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "momentum"])
def test_sgd_forms_agree_at_constant_lr_and_differ_when_lr_changes(name):
    spec = {"name": name, "momentum": 0.9}
    # constant lr 0.1, g = 1, p0 = 0.  torch: b = 1, 1.9 -> p = -0.1, -0.29.
    # cs231n: v = -0.1, -0.19 -> p = -0.1, -0.29.
    for form in ("torch", "cs231n"):
        np.testing.assert_allclose(np.ravel(run({**spec, "form": form}, [1, 1], [0.1, 0.1], 0.0)),
                                   [-0.1, -0.29], rtol=1e-14)
    # lr 0.1 then 0.01: torch p2 = -0.1 - 0.01*1.9 = -0.119; cs231n v2 = -0.09 - 0.01, p2 = -0.2
    torch_p = run({**spec, "form": "torch"}, [1, 1], [0.1, 0.01], 0.0)[-1]
    cs_p = run({**spec, "form": "cs231n"}, [1, 1], [0.1, 0.01], 0.0)[-1]
    np.testing.assert_allclose(torch_p, [-0.119], rtol=1e-14)
    np.testing.assert_allclose(cs_p, [-0.2], rtol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "nesterov"])
def test_nesterov_forms_agree_at_constant_lr_and_differ_when_lr_changes(name):
    spec = {"name": name, "momentum": 0.9, **({"nesterov": True} if name == "sgd" else {})}
    # torch: d1 = 1 + 0.9 = 1.9, p1 = -0.19; b2 = 1.9, d2 = 1 + 1.71 = 2.71, p2 = -0.461
    # cs231n: v1 = -0.1, p1 = 1.9*v1 = -0.19; v2 = -0.19, p2 = p1 + 0.9*0.1 + 1.9*(-0.19) = -0.461
    for form in ("torch", "cs231n"):
        np.testing.assert_allclose(np.ravel(run({**spec, "form": form}, [1, 1], [0.1, 0.1], 0.0)),
                                   [-0.19, -0.461], rtol=1e-14)
    # lr 0.1 then 0.01: torch p2 = -0.19 - 0.0271 = -0.2171; cs231n v2 = -0.1, p2 = -0.19 + 0.09 - 0.19
    torch_p = run({**spec, "form": "torch"}, [1, 1], [0.1, 0.01], 0.0)[-1]
    cs_p = run({**spec, "form": "cs231n"}, [1, 1], [0.1, 0.01], 0.0)[-1]
    np.testing.assert_allclose(torch_p, [-0.2171], rtol=1e-14)
    np.testing.assert_allclose(cs_p, [-0.29], rtol=1e-14)


def test_adagrad_by_hand():
    # s = 4, p = 1 - 0.1*2/2 = 0.9;  s = 8, p = 0.9 - 0.2/sqrt(8)
    out = run({"name": "adagrad", "eps": 0.0}, [2.0, 2.0], [0.1, 0.1])
    np.testing.assert_allclose(np.ravel(out), [0.9, 0.9 - 0.2 / math.sqrt(8)], rtol=1e-15)
    # initial accumulator 5: s = 9, p = 1 - 0.1*2/3
    out = run({"name": "adagrad", "eps": 0.0, "initial_accumulator": 5.0}, [2.0], [0.1])
    np.testing.assert_allclose(out[0], [1 - 0.2 / 3], rtol=1e-15)
    # default eps 1e-10 is outside the sqrt: 1 - 0.1*2/(2 + 1e-10)
    out = run({"name": "adagrad"}, [2.0], [0.1])
    assert out[0][0] == 1 - 0.1 * 2 / (2 + 1e-10)


def test_adagrad_eps_inside_sqrt_matches_cs224n_code():
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=6)
    grads = [rng.normal(size=6) * 10.0 ** rng.integers(-5, 1, size=6) for _ in range(4)]
    lr = 0.3
    x, cache = x0.copy(), np.zeros(6)
    for dx in grads:  # CS224n notes' AdaGrad
        cache += dx ** 2
        x += -lr * dx / np.sqrt(cache + 1e-8)
    opt = optimizers.build({"name": "adagrad", "eps": 1e-8, "eps_inside_sqrt": True})
    p = x0.copy()
    for dx in grads:
        opt.step(p, dx, lr)
    np.testing.assert_allclose(p, x, rtol=1e-14, atol=1e-15)
    # where it matters: g = 1e-4, eps 1e-8 -> inside 1e-4/sqrt(2e-8) = 1/sqrt(2); outside 1e-4/(1e-4 + 1e-8)
    inside = run({"name": "adagrad", "eps": 1e-8, "eps_inside_sqrt": True}, [1e-4], [1.0], 0.0)
    outside = run({"name": "adagrad", "eps": 1e-8}, [1e-4], [1.0], 0.0)
    np.testing.assert_allclose(inside[0], [-1 / math.sqrt(2)], rtol=1e-14)
    np.testing.assert_allclose(outside[0], [-1e-4 / (1e-4 + 1e-8)], rtol=1e-14)


def test_adadelta_by_hand():
    rho, eps, lr = 0.9, 1e-6, 0.5
    v = u = 0.0
    p, expect = 1.0, []
    for g in (2.0, -1.0):
        v = rho * v + (1 - rho) * g * g
        delta = math.sqrt(u + eps) / math.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p -= lr * delta
        expect.append(p)
    # first step: sqrt(1e-6)/sqrt(0.4 + 1e-6) * 2 ~ 3.16e-3
    assert abs((1 - expect[0]) / lr - 2e-3 / math.sqrt(0.4 + 1e-6)) < 1e-15
    np.testing.assert_allclose(np.ravel(run({"name": "adadelta"}, [2.0, -1.0], [lr, lr])), expect,
                               rtol=1e-14)


def test_rmsprop_by_hand():
    # v = 0.01*4 = 0.04, p = 1 - 0.01*2/0.2 = 0.9
    out = run({"name": "rmsprop", "eps": 0.0}, [2.0], [0.01])
    np.testing.assert_allclose(out[0], [0.9], rtol=1e-14)
    # default eps 1e-8 outside the sqrt
    out = run({"name": "rmsprop"}, [2.0], [0.01])
    np.testing.assert_allclose(out[0], [1 - 0.02 / (0.2 + 1e-8)], rtol=1e-15)
    # centered: m = 0.02, v - m^2 = 0.0396
    out = run({"name": "rmsprop", "eps": 0.0, "centered": True}, [2.0], [0.01])
    np.testing.assert_allclose(out[0], [1 - 0.02 / math.sqrt(0.0396)], rtol=1e-14)
    # momentum 0.5 and rho 0.9, g = 2 then 2: v1 = 0.4, b1 = 2/sqrt(0.4); v2 = 0.76, b2 = 0.5 b1 + 2/sqrt(0.76)
    b1 = 2 / math.sqrt(0.4)
    b2 = 0.5 * b1 + 2 / math.sqrt(0.76)
    out = run({"name": "rmsprop", "eps": 0.0, "rho": 0.9, "momentum": 0.5}, [2.0, 2.0], [0.1, 0.2])
    np.testing.assert_allclose(np.ravel(out), [1 - 0.1 * b1, 1 - 0.1 * b1 - 0.2 * b2], rtol=1e-14)
    # eps_inside_sqrt: g = 1e-4, rho 0, eps 1e-8 -> 1e-4/sqrt(2e-8) = 1/sqrt(2)
    out = run({"name": "rmsprop", "rho": 0.0, "eps": 1e-8, "eps_inside_sqrt": True}, [1e-4], [1.0], 0.0)
    np.testing.assert_allclose(out[0], [-1 / math.sqrt(2)], rtol=1e-14)


def test_adam_first_step_is_lr_times_sign():
    g = np.array([3.0, -0.5, 1e-3, -20.0])
    p = np.zeros(4)
    optimizers.build({"name": "adam"}).step(p, g, 0.1)
    # bias-corrected m = g, v = g^2 exactly: step = lr g / (|g| + eps)
    np.testing.assert_allclose(p, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-13)
    np.testing.assert_allclose(p, -0.1 * np.sign(g), rtol=1e-5)


def test_vanilla_adam_first_step():
    g = np.array([3.0, -0.5])
    p = np.zeros(2)
    optimizers.build({"name": "adam", "bias_correction": False}).step(p, g, 0.1)
    # lr (1 - b1) g / (sqrt(1 - b2) |g| + eps) ~ 3.16 lr sign(g)
    expect = -0.1 * 0.1 * g / (math.sqrt(0.001) * np.abs(g) + 1e-8)
    np.testing.assert_allclose(p, expect, rtol=1e-13)
    assert abs(abs(p[0]) - 0.1 * 0.1 / math.sqrt(0.001)) < 1e-6


def test_adam_second_step_by_hand():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    m = v = 0.0
    p, expect = 1.0, []
    for t, g in enumerate((2.0, -1.0), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr / (1 - b1 ** t) * m / (math.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        expect.append(p)
    np.testing.assert_allclose(np.ravel(run({"name": "adam"}, [2.0, -1.0], [lr, lr])), expect,
                               rtol=1e-14)


def test_adam_amsgrad_by_hand():
    # b1 = b2 = 0.5, eps 0, lr 1, g = 10 then 0.
    # t=1: m = 5, v = 50; p -= (1/0.5) * 5 / (sqrt(50)/sqrt(0.5)) = 1 -> p = 0
    # t=2: m = 2.5, v = 25 but v_max = 50; p -= (1/0.75) * 2.5 / (sqrt(50)/sqrt(0.75))
    spec = {"name": "adam", "beta1": 0.5, "beta2": 0.5, "eps": 0.0}
    step2_ams = 2.5 / 0.75 / (math.sqrt(50) / math.sqrt(0.75))
    step2_plain = 2.5 / 0.75 / (math.sqrt(25) / math.sqrt(0.75))
    out = run({**spec, "amsgrad": True}, [10.0, 0.0], [1.0, 1.0])
    np.testing.assert_allclose(np.ravel(out), [0.0, -step2_ams], atol=1e-14)
    out = run(spec, [10.0, 0.0], [1.0, 1.0])
    np.testing.assert_allclose(np.ravel(out), [0.0, -step2_plain], atol=1e-14)


def test_adamw_decays_weights_but_not_biases():
    # g = 0: the Adam part is 0 / (0 + eps) = 0, so only the decoupled decay acts
    lrs, wd = [0.1, 0.2, 0.05], 0.5
    p0 = np.array([1.0, -2.0, 0.5, 3.0])
    factor = np.prod([1 - lr * wd for lr in lrs])
    out = run({"name": "adamw", "weight_decay": wd}, [np.zeros(4)] * 3, lrs, p0, n_decay=2)
    np.testing.assert_allclose(out[-1][:2], p0[:2] * factor, rtol=1e-15)
    assert np.array_equal(out[-1][2:], p0[2:])  # biases untouched, bit for bit
    np.testing.assert_allclose(out[0][:2], p0[:2] * 0.95, rtol=1e-15)  # (1 - lr wd) per step
    # n_decay=None: everything is a weight; n_decay=0: nothing is
    out = run({"name": "adamw", "weight_decay": wd}, [np.zeros(4)] * 3, lrs, p0)
    np.testing.assert_allclose(out[-1], p0 * factor, rtol=1e-15)
    out = run({"name": "adamw", "weight_decay": wd}, [np.zeros(4)] * 3, lrs, p0, n_decay=0)
    assert np.array_equal(out[-1], p0)


def test_adamw_is_decay_then_adam():
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(3)]
    lrs, wd = [0.1, 0.03, 0.2], 0.3
    adamw = run({"name": "adamw", "weight_decay": wd}, grads, lrs, p0, n_decay=3)[-1]
    adam, p = optimizers.build({"name": "adam"}), p0.copy()
    for g, lr in zip(grads, lrs):
        p[:3] *= 1 - lr * wd
        adam.step(p, g, lr)
    np.testing.assert_allclose(adamw, p, rtol=1e-14)
    # and without decay AdamW is Adam
    no_decay = run({"name": "adamw", "weight_decay": 0.0}, grads, lrs, p0)[-1]
    np.testing.assert_allclose(no_decay, run({"name": "adam"}, grads, lrs, p0)[-1], rtol=0, atol=0)


def test_nadam_by_hand():
    b1, b2, eps, psi, lr = 0.9, 0.999, 1e-8, 4e-3, 0.1
    m = v = 0.0
    prod, p, expect = 1.0, 1.0, []
    for t, g in enumerate((2.0, -1.0), start=1):
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        a = math.sqrt(v / (1 - b2 ** t)) + eps
        p -= lr * (1 - mu) / (1 - prod) * g / a + lr * mu_next / (1 - prod * mu_next) * m / a
        expect.append(p)
    # first step: lr g/a (1 + mu2 (1 - b1) / (1 - mu1 mu2)) with a = |g| + eps, i.e. a bit over lr
    mu1, mu2 = b1 * (1 - 0.5 * 0.96 ** psi), b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    first = lr * 2 / (2 + eps) * (1 + mu2 * (1 - b1) / (1 - mu1 * mu2))
    assert abs((1 - expect[0]) - first) < 1e-15
    np.testing.assert_allclose(np.ravel(run({"name": "nadam"}, [2.0, -1.0], [lr, lr])), expect,
                               rtol=1e-14)


def test_adamax_by_hand():
    # t=1: m = 0.1*2, u = 2 + eps -> p = 1 - lr/(0.1) * 0.2/(2 + eps) ~ 1 - lr
    # t=2: m = 0.18 - 0.1 = 0.08, u = max(0.999 (2 + eps), 1 + eps); p -= lr/0.19 * m/u
    lr, eps = 0.1, 1e-8
    u1 = 2 + eps
    p1 = 1 - lr / (1 - 0.9) * (0.1 * 2) / u1
    u2 = max(0.999 * u1, 1 + eps)
    p2 = p1 - lr / (1 - 0.81) * 0.08 / u2
    out = run({"name": "adamax"}, [2.0, -1.0], [lr, lr])
    np.testing.assert_allclose(np.ravel(out), [p1, p2], rtol=1e-14)
    assert abs(p1 - 0.9) < 1e-8


# ----------------------------------------------------------------------------- generic contract

NAMES = STEPPED


@pytest.mark.parametrize("name", NAMES)
def test_state_is_created_lazily(name):
    opt = optimizers.build(name)
    assert opt.state == {}
    p = np.array(P0)
    opt.step(p, grad(p), 0.01)
    for a in opt.state.values():
        assert a.shape == p.shape


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    opt = optimizers.build(name)
    p = np.array(P0, dtype=np.float32)
    for _ in range(3):
        opt.step(p, grad(p), 0.01, n_decay=2)
    assert p.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.state.values())


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place(name):
    opt = optimizers.build(name)
    flat = np.array(P0 + [7.0])  # p is a view into a larger buffer, as the model's flat parameters
    p = flat[:4]
    before, ptr = p.copy(), p.__array_interface__["data"][0]
    for _ in range(2):
        q = p
        opt.step(p, grad(p), 0.05, n_decay=2)
        assert p is q
    assert p.__array_interface__["data"][0] == ptr
    assert not np.array_equal(p, before)
    assert np.array_equal(flat[:4], p) and flat[4] == 7.0


@pytest.mark.parametrize("name", NAMES)
def test_decreases_a_convex_quadratic(name):
    opt = optimizers.build(name)
    p = np.array(P0)
    start = loss(p)
    for _ in range(300):
        opt.step(p, grad(p), opt.lr)
    assert np.all(np.isfinite(p))
    assert loss(p) < 0.8 * start


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    results = []
    for _ in range(2):
        opt = optimizers.build(name)
        p = np.array(P0)
        for lr in VAR:
            opt.step(p, grad(p), lr, n_decay=2)
        results.append((p, {k: v.copy() for k, v in opt.state.items()}))
    (p1, s1), (p2, s2) = results
    assert np.array_equal(p1, p2)
    assert s1.keys() == s2.keys() and all(np.array_equal(s1[k], s2[k]) for k in s1)


# ----------------------------------------------------------------------------- validation


def resolve(spec):
    errors = []
    out = optimizers.resolve(spec, "train.optimizer", errors)
    return out, errors


def test_negative_lr_is_rejected_with_its_path():
    out, errors = resolve({"name": "adam", "lr": -1})
    assert out is None and len(errors) == 1 and "train.optimizer.lr" in errors[0]


def test_nesterov_without_momentum_is_rejected():
    out, errors = resolve({"name": "sgd", "nesterov": True})
    assert out is None and errors and "nesterov" in errors[0] and "momentum" in errors[0]
    out, errors = resolve({"name": "nesterov", "momentum": 0.0})
    assert out is None and errors
    out, errors = resolve({"name": "sgd", "nesterov": True, "momentum": 0.9})
    assert errors == [] and out["nesterov"] is True


def test_unknown_option_suggests_a_name():
    out, errors = resolve({"name": "adam", "beta3": 0.5})
    assert out is None and len(errors) == 1
    assert "train.optimizer.beta3" in errors[0] and "did you mean 'beta" in errors[0]


def test_resolve_fills_defaults_and_builds():
    out, errors = resolve("adamw")
    assert errors == [] and out["weight_decay"] == 0.01 and out["beta2"] == 0.999
    opt = optimizers.build(out)
    assert isinstance(opt, optimizers.get("adamw").obj)


@pytest.mark.parametrize("spec", [{"name": "adam", "beta1": 1.0}, {"name": "adam", "beta2": 1.0},
                                  {"name": "nadam", "beta1": 1.0}, {"name": "adamax", "beta1": 1.0},
                                  {"name": "rmsprop", "rho": 1.0}, {"name": "sgd", "momentum": 1.0}])
def test_beta_of_one_is_rejected_like_torch(spec):
    out, errors = resolve(spec)
    assert out is None and errors


# ----------------------------------------------------------------------------- construction and state
# (added for mutation testing, see docs/mutants.md: each pins something the golden runs cannot see)

# option name -> instance attribute, where they differ
ATTR = {"initial_accumulator": "init_acc", "eps_inside_sqrt": "inside"}
# a value other than the default for every option of every optimizer
OTHER = {"lr": 0.123, "momentum": 0.5, "nesterov": True, "form": "cs231n", "eps": 1e-3,
         "initial_accumulator": 0.5, "eps_inside_sqrt": True, "rho": 0.8, "centered": True,
         "beta1": 0.8, "beta2": 0.99, "amsgrad": True, "bias_correction": False, "weight_decay": 0.2,
         "momentum_decay": 0.1}


@pytest.mark.parametrize("name", NAMES)
def test_constructed_without_options_the_instance_has_torchs_defaults(name):
    comp = optimizers.get(name)
    opt = comp.obj()  # direct construction, not through the registry's resolved spec
    for key, value in TORCH_DEFAULTS.get(name, comp.defaults()).items():
        assert getattr(opt, ATTR.get(key, key)) == value, key
    for key in ("form", "bias_correction", "eps_inside_sqrt", "amsgrad", "nesterov"):
        if key in comp.options:
            assert getattr(opt, ATTR.get(key, key)) == comp.defaults()[key], key
    if name in ("sgd", "momentum"):
        assert opt.nesterov is False
    assert opt.t == 0 and opt.state == {}


@pytest.mark.parametrize("name", NAMES)
def test_every_option_reaches_the_instance(name):
    comp = optimizers.get(name)
    for key in comp.options:
        opt = optimizers.build({"name": name, key: OTHER[key]})
        assert getattr(opt, ATTR.get(key, key)) == OTHER[key], key


# the state buffers each rule keeps, by name (torch's names where torch has the buffer; 'tmp' is
# the one scratch array): a checkpoint of the optimizer is this dict
STATE = [
    ({"name": "sgd"}, set()),  # plain SGD keeps nothing
    ({"name": "sgd", "momentum": 0.9}, {"b"}),
    ({"name": "nesterov"}, {"b", "tmp"}),
    ({"name": "momentum", "form": "cs231n"}, {"v"}),
    ({"name": "nesterov", "form": "cs231n"}, {"v", "tmp"}),
    ({"name": "adagrad"}, {"sum", "tmp"}),
    ({"name": "adadelta"}, {"square_avg", "acc_delta", "tmp"}),
    ({"name": "rmsprop"}, {"square_avg", "tmp"}),
    ({"name": "rmsprop", "centered": True, "momentum": 0.5}, {"square_avg", "grad_avg", "momentum_buffer", "tmp"}),
    ({"name": "adam"}, {"exp_avg_scaled", "exp_avg_sq_scaled", "tmp"}),
    ({"name": "adam", "amsgrad": True}, {"exp_avg_scaled", "exp_avg_sq_scaled", "max_exp_avg_sq_scaled", "tmp"}),
    ({"name": "adamw"}, {"exp_avg_scaled", "exp_avg_sq_scaled", "tmp"}),
    ({"name": "nadam"}, {"exp_avg", "exp_avg_sq", "tmp"}),
    ({"name": "adamax"}, {"exp_avg", "exp_inf", "tmp"}),
]


@pytest.mark.parametrize("spec, names", STATE, ids=[str(s) for s, _ in STATE])
def test_state_buffer_names(spec, names):
    opt = optimizers.build(spec)
    p = np.array(P0)
    for lr in (0.01, 0.02):
        opt.step(p, grad(p), lr)
    assert set(opt.state) == names


def test_state_buffers_hold_what_their_names_say():
    # one step from zero state with gradient g: the torch-named moments are known in closed form
    g = np.array([2.0, -1.0])
    adam = optimizers.build({"name": "adam", "amsgrad": True})
    adam.step(np.zeros(2), g.copy(), 0.1)
    # Adam keeps m / (1 - beta1) and v / (1 - beta2): after one step from zero, g and g^2 exactly
    np.testing.assert_array_equal(adam.state["exp_avg_scaled"], g)
    np.testing.assert_array_equal(adam.state["exp_avg_sq_scaled"], g * g)
    np.testing.assert_array_equal(adam.state["max_exp_avg_sq_scaled"], g * g)
    torch_named = adam.moments()
    np.testing.assert_allclose(torch_named["exp_avg"], 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(torch_named["exp_avg_sq"], 0.001 * g * g, rtol=1e-12)
    np.testing.assert_allclose(torch_named["max_exp_avg_sq"], 0.001 * g * g, rtol=1e-12)
    rms = optimizers.build({"name": "rmsprop", "centered": True, "momentum": 0.5})
    rms.step(np.zeros(2), g.copy(), 0.1)
    np.testing.assert_allclose(rms.state["grad_avg"], 0.01 * g, rtol=1e-12)
    adagrad = optimizers.build({"name": "adagrad", "initial_accumulator": 0.5})
    adagrad.step(np.zeros(2), g.copy(), 0.1)
    np.testing.assert_allclose(adagrad.state["sum"], 0.5 + g * g, rtol=1e-15)
    adamax = optimizers.build({"name": "adamax"})
    adamax.step(np.zeros(2), g.copy(), 0.1)
    np.testing.assert_allclose(adamax.state["exp_inf"], np.abs(g) + 1e-8, rtol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_state_follows_a_change_of_dtype(name):
    # the same optimizer stepping float64 then float32 parameters of the same shape: fresh float32 state
    opt = optimizers.build(name)
    opt.step(np.array(P0), grad(np.array(P0)), 0.01)
    p = np.array(P0, dtype=np.float32)
    opt.step(p, grad(p).astype(np.float32), 0.01)
    assert p.dtype == np.float32 and all(a.dtype == np.float32 for a in opt.state.values())


def test_nesterov_messages_name_the_rule():
    _, errors = resolve({"name": "sgd", "nesterov": True})
    assert errors[0].endswith("nesterov needs momentum > 0 (as torch.optim.SGD)")
    _, errors = resolve({"name": "nesterov", "momentum": 0.0})
    assert errors[0].endswith("nesterov needs momentum > 0")


@pytest.mark.parametrize("name, keys", [("adam", {"exp_avg_scaled", "exp_avg_sq_scaled"}), ("sgd", set()),
                                        ("nesterov", {"b"}), ("nadam", {"exp_avg", "exp_avg_sq"}),
                                        ("adagrad", {"sum"})])
def test_state_dict_keeps_the_state_not_the_scratch_buffer_and_round_trips(name, keys):
    """A checkpoint holds the optimizer's state (not its scratch 'tmp' buffer); loading it continues exactly."""
    from nnlab.components.optimizers import optimizers as registry

    rng = np.random.default_rng(0)
    p, g = rng.normal(size=7), rng.normal(size=7)
    a = registry.build({"name": name, "lr": 0.1})
    a.step(p.copy(), g, 0.1)
    meta, arrays = a.state_dict()
    assert set(arrays) == keys and meta["t"] == 1
    if name == "nadam":
        assert meta["mu_product"] == a.mu_product != 1.0
    b = registry.build({"name": name, "lr": 0.1})
    b.load_state_dict(meta, arrays)
    for k in arrays:  # copies, not views of a's state
        assert not np.shares_memory(b.state[k], a.state[k])
    pa, pb = p.copy(), p.copy()
    a.step(pa, g, 0.1)
    b.step(pb, g, 0.1)
    np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("spec", [{"name": "adam"}, {"name": "adam", "amsgrad": True}, {"name": "adamw"}])
def test_adam_loads_a_checkpoint_of_unscaled_moments(spec):
    """A checkpoint written when Adam kept torch's exp_avg and exp_avg_sq continues as the same rule."""
    rng = np.random.default_rng(3)
    # large gradients first, then small ones: the amsgrad maximum carried over decides the later steps
    p0, grads = rng.normal(size=5), [rng.normal(size=5) * scale for scale in (10, 10, 0.1, 0.1)]
    a = optimizers.build({**spec, "lr": 0.05})
    pa = p0.copy()
    for g in grads[:2]:
        a.step(pa, g, 0.05)
    meta, _ = a.state_dict()
    old = a.moments()  # what the old checkpoint held
    names = {"exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if spec.get("amsgrad") else set())
    assert set(old) == names
    b = optimizers.build({**spec, "lr": 0.05})
    b.load_state_dict(meta, old)
    assert set(b.state) == set(a.state) - {"tmp"}  # the scaled names, nothing left under torch's
    pb = pa.copy()
    for g in grads[2:]:
        a.step(pa, g, 0.05)
        b.step(pb, g, 0.05)
    np.testing.assert_allclose(pb, pa, rtol=1e-14)
