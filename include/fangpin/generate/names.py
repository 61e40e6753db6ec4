"""Names used by the generator: Xingbin's townships, village-name syllables, people's names.

Every character here is in GBK, so any feed may be exported as GBK/GB18030.
"""

from __future__ import annotations

# (name, code suffix after the 6-digit county code, relative size of its rural population).
# 城东街道 is the small, mostly urban township: it never has 30 脱贫户+监测户 (see county.py).
TOWNSHIPS = (
    ("城东街道", "001", 0.15),
    ("凤凰镇", "101", 1.6),
    ("良江镇", "102", 1.2),
    ("小平阳镇", "103", 1.3),
    ("迁江镇", "104", 1.5),
    ("石陵镇", "105", 1.0),
    ("平阳镇", "106", 0.9),
    ("蒙村镇", "107", 0.8),
    ("大湾镇", "108", 1.1),
    ("桥巩镇", "109", 1.0),
    ("寺山镇", "110", 0.9),
    ("城厢镇", "111", 1.2),
    ("三五镇", "112", 0.8),
    ("陶邓镇", "113", 0.9),
    ("五山乡", "201", 0.6),
    ("七洞乡", "202", 0.7),
    ("南泗乡", "203", 0.8),
    ("高安乡", "204", 0.6),
    ("正龙乡", "205", 0.7),
    ("良塘乡", "206", 0.6),
    ("北五乡", "207", 0.7),
    ("石牙乡", "208", 0.5),
)
SMALL_TOWNSHIP = "城东街道"
# The small township keeps at most this many 脱贫户+监测户 at every scale (spot checks then
# draw all of them instead of 30).
SMALL_TOWNSHIP_ELIGIBLE = 20

VILLAGE_FIRST = "那古龙六大小新石平上下东西南北良凤马高双三福长白黄金红清雷罗"
VILLAGE_SECOND = "岭塘山江坡河桥田洞岩湾陇垌寨楼城安和平兴合利团林沙水排头"

SURNAMES = "韦覃黄蓝莫陆李梁潘蒙卢罗廖陈王刘杨周吴谢农韩何唐邓许钟凌甘蒋"
# weights: Zhuang surnames are the most common in Xingbin
SURNAME_WEIGHTS = (9, 8, 8, 5, 6, 5, 6, 5, 4, 4, 4, 4, 3, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1)
GIVEN_MALE = "建国明海军平强勇德志伟振华福荣金文林成光永东生富贵祥军辉杰刚"
GIVEN_FEMALE = "丽英秀芳春桂兰玉燕红梅宁清美凤霞娟萍艳珍翠莲琴花妹月娥雪婷"

RELATIONS_CHILD = {1: "之子", 0: "之女"}
RELATIONS_GRANDCHILD = {1: "之孙子", 0: "之孙女"}
RELATIONS_PARENT = {1: "之父", 0: "之母"}

MAJOR_DISEASES = ("恶性肿瘤", "尿毒症", "白血病", "脑卒中后遗症", "重性精神病", "耐多药肺结核", "终末期肾病",
                  "急性心肌梗死", "儿童先天性心脏病", "血友病")
CHRONIC_DISEASES = ("高血压", "2型糖尿病", "慢性阻塞性肺疾病", "冠心病", "类风湿性关节炎", "肝硬化", "慢性肾炎",
                    "帕金森病")

MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
                   "153", "155", "156", "157", "158", "159", "177", "178", "180", "181", "182", "183", "185",
                   "186", "187", "188", "189", "198", "199")

RECTIFICATION_TEXTS = ("已入户核实并更新系统信息", "已落实帮扶措施并录入系统", "已补录核实结论", "已纠正家庭人口信息",
                       "已电话回访并完善联系方式")
SPOT_CHECK_REMARKS_NO = {"answered": "电话未接通，已安排再次联系", "consistent": "家庭人口信息与系统不一致",
                         "assisted": "帮扶措施未落实到户"}
