"""Spanish and Portuguese phrase banks for customer and agent mail.

Everything a message says is composed here, as plain `str`, before any charset or transfer
encoding is chosen; the archive records these strings as the ground truth the parsers must
recover. Lines never start or end with spaces and greetings are short, so the first body line
survives every encoding unchanged.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------

ES_FIRST = (
    "Juan",
    "José",
    "Martín",
    "Santiago",
    "Matías",
    "Nicolás",
    "Sebastián",
    "Joaquín",
    "Tomás",
    "Agustín",
    "Facundo",
    "Ignacio",
    "Gonzalo",
    "Julián",
    "Ramón",
    "Andrés",
    "Germán",
    "Héctor",
    "Raúl",
    "Iñaki",
    "Álvaro",
    "Jesús",
    "Ángel",
    "Óscar",
    "Rubén",
    "Sergio",
    "Pablo",
    "Diego",
    "Lucas",
    "Marcelo",
    "María",
    "Lucía",
    "Sofía",
    "Valentina",
    "Camila",
    "Martina",
    "Florencia",
    "Agustina",
    "Carolina",
    "Micaela",
    "Julieta",
    "Ana",
    "Inés",
    "Belén",
    "Mónica",
    "Verónica",
    "Begoña",
    "Nuria",
    "Mercedes",
    "Rocío",
    "Ximena",
    "Soledad",
    "Noelia",
    "Patricia",
    "Laura",
    "Graciela",
    "Silvia",
    "Natalia",
    "Eugenia",
    "Luján",
)
ES_LAST = (
    "Pérez",
    "González",
    "Rodríguez",
    "Fernández",
    "López",
    "Martínez",
    "García",
    "Gómez",
    "Díaz",
    "Sánchez",
    "Romero",
    "Sosa",
    "Álvarez",
    "Torres",
    "Ruiz",
    "Ramírez",
    "Flores",
    "Acosta",
    "Benítez",
    "Medina",
    "Herrera",
    "Suárez",
    "Aguirre",
    "Giménez",
    "Gutiérrez",
    "Pereyra",
    "Molina",
    "Castro",
    "Ortiz",
    "Núñez",
    "Ibáñez",
    "Muñoz",
    "Peña",
    "Domínguez",
    "Quiroga",
    "Ferreyra",
    "Vázquez",
    "Ledesma",
    "Cabrera",
    "Ríos",
    "Morales",
    "Ojeda",
    "Paz",
    "Luna",
    "Juárez",
    "Iglesias",
    "Mendoza",
    "Carrizo",
    "Córdoba",
    "Bustos",
    "Villagrán",
    "Echeverría",
    "Zúñiga",
    "Bermúdez",
    "Olmos",
    "Arregui",
    "Goñi",
    "Urquiza",
    "Barrionuevo",
    "Maldonado",
)
PT_FIRST = (
    "João",
    "José",
    "Antônio",
    "Francisco",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luiz",
    "Marcos",
    "Gabriel",
    "Rafael",
    "Daniel",
    "Marcelo",
    "Bruno",
    "Eduardo",
    "Felipe",
    "Raimundo",
    "Rodrigo",
    "Sebastião",
    "Maria",
    "Ana",
    "Francisca",
    "Antônia",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Sandra",
    "Camila",
    "Amanda",
    "Bruna",
    "Jéssica",
    "Letícia",
    "Júlia",
    "Luciana",
    "Vanessa",
    "Conceição",
    "Inês",
    "Thaís",
    "Débora",
    "Cecília",
    "Vitória",
    "Cláudio",
)
PT_LAST = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Magalhães",
    "Simões",
    "Brandão",
    "Leão",
    "Assunção",
    "Falcão",
    "Guimarães",
    "Estêvão",
    "Conceição",
    "Sampaio",
)

AGENTS = {
    "es-AR": ("Laura", "Martín", "Florencia", "Gustavo", "Paula", "Ezequiel", "Romina", "Ignacio"),
    "es-ES": ("Nuria", "Álvaro", "Marta", "Jordi", "Elena", "Javier", "Ainhoa", "Raúl"),
    "pt-BR": ("Renata", "Thiago", "Priscila", "Rogério", "Camila", "Vinícius", "Tatiane", "Otávio"),
}

FREEMAIL = {
    "es-AR": (
        ("gmail.com", 45),
        ("hotmail.com", 18),
        ("yahoo.com.ar", 7),
        ("outlook.com", 6),
        ("icloud.com", 5),
        ("live.com.ar", 2),
        ("fibertel.com.ar", 3),
        ("arnet.com.ar", 2),
    ),
    "es-ES": (
        ("gmail.com", 45),
        ("hotmail.com", 10),
        ("hotmail.es", 6),
        ("outlook.es", 7),
        ("yahoo.es", 5),
        ("icloud.com", 7),
        ("telefonica.net", 3),
    ),
    "pt-BR": (
        ("gmail.com", 50),
        ("hotmail.com", 14),
        ("outlook.com", 6),
        ("yahoo.com.br", 6),
        ("uol.com.br", 6),
        ("bol.com.br", 3),
        ("terra.com.br", 3),
        ("icloud.com", 5),
    ),
}
"""Weighted freemail/ISP domains customers of each market write from."""

CORPORATE = {
    "es-AR": (
        "agroandina.com.ar",
        "estudiolopez.com.ar",
        "metalurgicanorte.com.ar",
        "transportesdelsur.com.ar",
        "grupomontes.com.ar",
        "consultoraprisma.com.ar",
    ),
    "es-ES": ("construccionesebro.es", "asesoriamartin.es", "gruponavarra.es", "talleresiberia.es"),
    "pt-BR": (
        "construtoraalvorada.com.br",
        "grupoparana.com.br",
        "contabilidadesilva.com.br",
        "logisticanordeste.com.br",
        "metalurgicapaulista.com.br",
    ),
}
"""Company domains (customers writing from work); their mail passes through link scanners."""


def ascii_fold(text: str) -> str:
    """'Núñez' -> 'Nunez': how people spell themselves in mailbox names."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def person_name(rng: random.Random, lang: str) -> tuple[str, str]:
    if lang == "pt-BR":
        return rng.choice(PT_FIRST), rng.choice(PT_LAST)
    return rng.choice(ES_FIRST), rng.choice(ES_LAST)


def mailbox(rng: random.Random, first: str, last: str) -> str:
    f, la = ascii_fold(first).lower().replace(" ", ""), ascii_fold(last).lower().replace(" ", "")
    style = rng.randrange(7)
    if style == 0:
        return f"{f}.{la}"
    if style == 1:
        return f"{f[0]}{la}{rng.randrange(60, 100)}"
    if style == 2:
        return f"{f}_{la}"
    if style == 3:
        return f"{f}{la}{rng.randrange(1, 2000)}"
    if style == 4:
        return f"{la}.{f}"
    if style == 5:
        return f"{f}.{la}{rng.randrange(1, 99):02d}"
    return f"{f[0]}.{la}"


# --------------------------------------------------------------------------------------------
# Industry words and topics
# --------------------------------------------------------------------------------------------

INDUSTRY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "peajes": {
        "es": (
            "el TelePeaje",
            "el tag del vehículo",
            "la cuenta corriente de peajes",
            "el débito automático",
            "las pasadas por la ruta E-55",
            "la cabina de Saldán",
        ),
        "pt": ("o TelePeaje", "a tag do veículo", "a cobrança de pedágio", "o débito automático"),
    },
    "muebles": {
        "es": ("el sofá de tres cuerpos", "la mesa de comedor", "el placard", "la entrega"),
        "pt": ("o sofá retrátil", "a mesa de jantar", "o guarda-roupa", "a entrega", "a montagem"),
    },
    "vinos": {
        "es": ("la caja de tintos", "el pedido de Navidad", "la suscripción mensual", "el envío"),
        "pt": ("a caixa de vinhos", "o pedido de Natal", "a assinatura mensal"),
    },
    "salud": {
        "es": (
            "el turno con el cardiólogo",
            "la orden de estudios",
            "el reintegro de la prepaga",
            "los resultados del laboratorio",
        ),
        "pt": ("a consulta com o cardiologista", "o pedido de exames", "o reembolso do convênio"),
    },
    "logistica": {
        "es": ("el envío", "la guía de despacho", "el retiro en sucursal", "la encomienda"),
        "pt": ("a encomenda", "o rastreamento", "a coleta", "o frete", "a nota de despacho"),
    },
    "turismo": {
        "es": ("la reserva de la excursión", "el traslado al aeropuerto", "la habitación doble"),
        "pt": ("a reserva do passeio", "o traslado", "o quarto duplo", "o pacote de viagem"),
    },
    "comercio": {
        "es": ("el pedido", "la compra online", "el producto", "la garantía", "el envío a domicilio"),
        "pt": ("o pedido", "a compra online", "o produto", "a garantia", "a entrega"),
    },
    "educacion": {
        "es": ("la inscripción al curso", "la cuota de octubre", "el certificado", "el aula virtual"),
        "pt": ("a matrícula", "a mensalidade", "o certificado", "a plataforma de aulas"),
    },
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A reason to write to support, with everything a thread about it may say."""

    key: str
    subjects: tuple[str, ...]
    openings: tuple[str, ...]
    details: tuple[str, ...]
    asks: tuple[str, ...]
    answers: tuple[str, ...]
    attachment_names: tuple[str, ...] = ()


ES_TOPICS = (
    Topic(
        "factura",
        (
            "Consulta por factura",
            "Factura de {mes}",
            "No me llegó la factura",
            "Pedido de factura A",
            "Error en la facturación de {mes}",
            "Facturación - cuenta {n}",
        ),
        (
            "Les escribo porque no recibí la factura de {mes} correspondiente a {item}.",
            "Quería consultarles por la factura {factura}, que tiene un importe de {monto}.",
            "Necesito la factura A a nombre de la empresa, CUIT {cuit}.",
        ),
        (
            "Ya revisé la carpeta de spam y tampoco está.",
            "En la web figura como emitida pero no la puedo descargar.",
            "El importe no coincide con lo que veníamos pagando.",
            "Les paso los datos: cuenta {n}.",
        ),
        (
            "¿Me la podrían reenviar?",
            "¿Me pueden decir cómo la descargo?",
            "Quedo atento a su respuesta.",
            "¿Podrían revisarlo?",
        ),
        (
            "Te reenviamos la factura {factura} adjunta a este correo.",
            "Verificamos la cuenta {n} y la factura ya fue emitida correctamente.",
            "Podés descargar tus facturas desde la sección Mi cuenta de nuestra web.",
        ),
        ("Factura {factura}.pdf", "Constancia de CUIT.pdf", "Captura de pantalla {fecha_archivo}.png"),
    ),
    Topic(
        "cobro_duplicado",
        (
            "Cobro duplicado",
            "Me cobraron dos veces",
            "Reclamo: cobro duplicado de {item}",
            "[Reclamo] Débito duplicado",
            "¡Cobro indebido!",
        ),
        (
            "Les escribo porque en el resumen de la tarjeta aparece dos veces el cobro de {monto}.",
            "Me debitaron dos veces {item} el día {fecha}.",
            "Revisando la cuenta vi que el cobro del {fecha} está duplicado.",
        ),
        (
            "Adjunto el resumen donde se ve el doble débito.",
            "El segundo débito es por el mismo importe.",
            "Es la segunda vez que me pasa este año.",
        ),
        (
            "¿Cómo hago para que me reintegren la diferencia?",
            "Necesito que me devuelvan el importe.",
            "Espero una pronta solución.",
        ),
        (
            "Confirmamos el cobro duplicado y ya gestionamos el reintegro de {monto}.",
            "El reintegro se verá reflejado en tu próximo resumen, dentro de los 10 días hábiles.",
            "Lamentamos las molestias ocasionadas.",
        ),
        ("Resumen tarjeta {mes}.pdf", "IMG_{fecha_archivo}.jpg", "débito duplicado.png"),
    ),
    Topic(
        "baja",
        (
            "Baja del servicio",
            "Solicitud de baja",
            "Quiero dar de baja {item}",
            "¿Cómo doy de baja el débito automático?",
            "Baja",
        ),
        (
            "Quisiera dar de baja {item} a partir del mes próximo.",
            "Por favor, necesito cancelar {item} porque me mudo.",
            "Les pido la baja de {item}, cuenta {n}.",
        ),
        (
            "Ya intenté hacerlo desde la web pero me da error.",
            "El titular es {nombre_completo}, DNI {dni}.",
            "No quiero que me sigan debitando.",
        ),
        ("¿Me confirman cuando esté hecho?", "¿Necesitan algún dato más?", "Gracias de antemano."),
        (
            "Registramos la baja de {item} con fecha {fecha}.",
            "Para completar la baja necesitamos que nos envíes una copia del DNI del titular.",
            "Te confirmamos que no se realizarán nuevos débitos.",
        ),
        ("DNI frente y dorso.pdf", "Nota de baja.docx"),
    ),
    Topic(
        "consulta",
        (
            "Consulta",
            "Consulta",
            "Una consulta",
            "Consulta sobre {item}",
            "Pregunta",
            "Información",
            "Consulta general",
        ),
        (
            "Quería hacerles una consulta sobre {item}.",
            "Les escribo para consultar por {item}.",
            "Tengo una duda con {item}.",
        ),
        (
            "Vi en la web que cambiaron las condiciones.",
            "Un conocido me dijo que ahora hay un descuento.",
            "No encontré la información en la página.",
        ),
        ("¿Me podrían informar?", "¿Cuál sería el procedimiento?", "Desde ya, muchas gracias."),
        (
            "Con gusto te informamos que {item} está disponible de lunes a viernes de 9 a 18 h.",
            "Encontrás toda la información actualizada en nuestra sección de preguntas frecuentes.",
            "Las nuevas condiciones rigen desde el {fecha}.",
        ),
    ),
    Topic(
        "demora",
        (
            "Demora en {item}",
            "Reclamo por demora",
            "¿Novedades de mi pedido?",
            "URGENTE: {item} sin respuesta",
            "Sigo esperando",
        ),
        (
            "Hace más de dos semanas que espero {item} y no tengo novedades.",
            "El {fecha} me dijeron que {item} estaba en camino y todavía no llegó.",
            "Estoy esperando una respuesta sobre {item} desde hace días.",
        ),
        ("Llamé al 0800 pero nadie atiende.", "El número de seguimiento es {n}.", "Necesito una respuesta concreta."),
        ("¿Me pueden decir qué pasó?", "¿Para cuándo estaría?", "Espero una respuesta a la brevedad."),
        (
            "Disculpá la demora: {item} fue despachado el {fecha}, número de seguimiento {n}.",
            "Ya escalamos el caso al área correspondiente y te vamos a contactar en 48 horas.",
            "Verificamos el estado y todo indica que se resolverá esta semana.",
        ),
        ("Comprobante de compra.pdf", "WhatsApp Image {fecha_archivo}.jpeg"),
    ),
    Topic(
        "datos",
        (
            "Cambio de datos",
            "Actualización de domicilio",
            "Cambio de titularidad",
            "Modificar mail de contacto",
            "Cambio de tarjeta para el débito",
        ),
        (
            "Necesito actualizar mis datos de contacto en {item}.",
            "Me mudé y quiero cambiar el domicilio de facturación.",
            "Quiero cambiar la tarjeta asociada a {item}.",
        ),
        (
            "El nuevo domicilio es Av. Colón {calle}, Córdoba.",
            "El nuevo teléfono es 351-{tel}.",
            "Adjunto el formulario firmado.",
        ),
        ("¿Pueden hacerlo ustedes o tengo que ir a una oficina?", "¿Me avisan cuando esté actualizado?", "Gracias."),
        (
            "Actualizamos tus datos correctamente.",
            "Para el cambio de titularidad necesitamos el formulario F-12 firmado.",
            "Ya registramos la nueva tarjeta para los próximos débitos.",
        ),
        ("Formulario cambio de titularidad.pdf", "Datos actualizados.xlsx"),
    ),
    Topic(
        "reintegro",
        ("Solicitud de reintegro", "Pedido de devolución", "Reintegro pendiente", "Devolución de {monto}"),
        (
            "Solicito el reintegro de {monto} por {item}.",
            "Devolví {item} el {fecha} y todavía no me reintegraron el dinero.",
            "Me corresponde una devolución por {item}.",
        ),
        ("Adjunto el comprobante de pago.", "El CBU para la transferencia es {cbu}.", "Pagué con tarjeta de débito."),
        ("¿En cuánto tiempo se acredita?", "¿Necesitan algo más de mi parte?", "Aguardo su respuesta."),
        (
            "El reintegro de {monto} fue aprobado y se acreditará en 5 a 7 días hábiles.",
            "Necesitamos el comprobante de pago para avanzar con la devolución.",
            "La devolución ya fue procesada el {fecha}.",
        ),
        ("Comprobante de pago.pdf", "Comprobante de transferencia {fecha_archivo}.pdf", "Ticket.jpg"),
    ),
    Topic(
        "web",
        (
            "No puedo ingresar a la web",
            "Error en la app",
            "Problema con la contraseña",
            "La página no funciona",
            "Error al pagar online",
        ),
        (
            "Desde ayer no puedo ingresar a mi cuenta en la web.",
            "Cuando quiero pagar {item} la app me da un error.",
            "Intenté recuperar la contraseña pero no me llega el mail.",
        ),
        (
            "Probé desde la computadora y desde el celular.",
            "El mensaje dice «Error 500, intente más tarde».",
            "Adjunto captura del error.",
        ),
        ("¿Está caído el sistema?", "¿Me pueden ayudar?", "¿Hay otra forma de pagar?"),
        (
            "Tuvimos una intermitencia en el sistema que ya fue solucionada.",
            "Te enviamos un enlace para restablecer la contraseña.",
            "Podés pagar también por transferencia o en cualquier Rapipago.",
        ),
        ("Captura de pantalla {fecha_archivo}.png", "Screenshot_{fecha_archivo}.png", "error.jpg"),
    ),
)

PT_TOPICS = (
    Topic(
        "nota_fiscal",
        (
            "Nota fiscal",
            "Não recebi a nota fiscal",
            "Segunda via da nota fiscal",
            "Dúvida sobre a cobrança de {mes}",
            "Nota fiscal do pedido {n}",
        ),
        (
            "Estou escrevendo porque não recebi a nota fiscal de {item}.",
            "Gostaria de uma segunda via da nota fiscal nº {n}, no valor de {monto}.",
            "A nota fiscal veio com o CNPJ errado.",
        ),
        ("Já verifiquei a caixa de spam.", "O CNPJ correto é {cnpj}.", "No site aparece como emitida."),
        ("Podem reenviar, por favor?", "Como faço para baixar?", "Fico no aguardo."),
        (
            "Segue em anexo a segunda via da nota fiscal nº {n}.",
            "A nota fiscal foi reemitida com o CNPJ correto.",
            "Você pode baixar suas notas fiscais na área do cliente do nosso site.",
        ),
        ("Nota fiscal nº {n}.pdf", "Cartão CNPJ.pdf", "Captura de tela {fecha_archivo}.png"),
    ),
    Topic(
        "cobranca",
        (
            "Cobrança em duplicidade",
            "Fui cobrado duas vezes",
            "Reclamação: cobrança indevida",
            "[URGENTE] Cobrança errada",
            "Estorno",
        ),
        (
            "Estou sendo cobrado duas vezes por {item}, no valor de {monto}.",
            "Apareceu uma cobrança de {monto} que eu não reconheço.",
            "No dia {fecha} foi debitado duas vezes o mesmo valor.",
        ),
        ("Segue o extrato em anexo.", "Já é a segunda vez que isso acontece.", "Paguei via Pix."),
        ("Como faço para receber o estorno?", "Aguardo uma solução.", "Preciso disso resolvido com urgência."),
        (
            "Confirmamos a duplicidade e o estorno de {monto} já foi solicitado.",
            "O valor será devolvido em até 7 dias úteis.",
            "Pedimos desculpas pelo transtorno.",
        ),
        ("Extrato {mes}.pdf", "Comprovante Pix {fecha_archivo}.jpg", "IMG_{fecha_archivo}.jpg"),
    ),
    Topic(
        "entrega",
        ("Atraso na entrega", "Pedido {n} não chegou", "Cadê meu pedido?", "Prazo de entrega", "Rastreamento"),
        (
            "Meu pedido {n} deveria ter chegado no dia {fecha} e até agora nada.",
            "Gostaria de saber o status de {item}.",
            "Estou esperando {item} há mais de duas semanas.",
        ),
        (
            "O rastreamento não atualiza desde o dia {fecha}.",
            "Liguei no SAC mas ninguém atende.",
            "Preciso receber antes do fim do mês.",
        ),
        ("Podem verificar, por favor?", "Qual é a nova previsão?", "Obrigado desde já."),
        (
            "Verificamos que {item} saiu para entrega no dia {fecha}.",
            "Houve um atraso na transportadora e a nova previsão é de 3 dias úteis.",
            "Seu pedido {n} já foi reenviado com prioridade.",
        ),
        ("Comprovante de compra.pdf", "WhatsApp Image {fecha_archivo}.jpeg"),
    ),
    Topic(
        "duvida",
        ("Dúvida", "Dúvida", "Informação", "Pergunta sobre {item}", "Solicitação de informação", "Orçamento"),
        (
            "Gostaria de tirar uma dúvida sobre {item}.",
            "Queria saber como funciona {item}.",
            "Vocês fazem orçamento para empresas?",
        ),
        ("Não encontrei essa informação no site.", "Um amigo me indicou vocês.", "Seria para o mês que vem."),
        ("Podem me informar?", "Qual o procedimento?", "Obrigada!"),
        (
            "Com prazer: {item} funciona de segunda a sexta, das 9h às 18h.",
            "Enviamos em anexo o orçamento solicitado.",
            "Todas as informações estão na nossa central de ajuda.",
        ),
        ("Orçamento {n}.xlsx", "Lista de produtos.xlsx"),
    ),
    Topic(
        "cancelamento",
        ("Cancelamento", "Cancelar assinatura", "Solicitação de cancelamento", "Quero cancelar {item}"),
        (
            "Gostaria de cancelar {item}.",
            "Por favor, cancelem {item} a partir do próximo mês.",
            "Solicito o cancelamento do contrato {n}.",
        ),
        (
            "Já tentei pelo aplicativo mas dá erro.",
            "O titular é {nombre_completo}, CPF {cpf}.",
            "Não quero mais ser cobrado.",
        ),
        ("Podem confirmar?", "Precisam de mais alguma informação?", "Aguardo retorno."),
        (
            "O cancelamento de {item} foi registrado em {fecha}.",
            "Para concluir, precisamos de uma cópia do documento do titular.",
            "Confirmamos que não haverá novas cobranças.",
        ),
        ("RG e CPF.pdf", "Solicitação de cancelamento.docx"),
    ),
    Topic(
        "troca",
        ("Troca de produto", "Produto com defeito", "Reclamação - produto avariado", "Devolução", "Garantia"),
        (
            "{item} chegou com defeito.",
            "Recebi {item} danificado no dia {fecha}.",
            "Quero trocar {item} porque veio diferente do anunciado.",
        ),
        ("Seguem as fotos em anexo.", "A embalagem estava amassada.", "Comprei na loja online."),
        ("Como faço a troca?", "Vocês retiram em casa?", "Aguardo instruções."),
        (
            "Sentimos muito! Já agendamos a coleta de {item} para o dia {fecha}.",
            "A troca será feita em até 10 dias úteis após a coleta.",
            "Enviamos uma etiqueta de devolução.",
        ),
        ("Foto produto avariado.jpg", "IMG_{fecha_archivo}.jpg", "Nota fiscal.pdf"),
    ),
)

MESES_ES = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)
MESES_PT = (
    "janeiro",
    "fevereiro",
    "março",
    "abril",
    "maio",
    "junho",
    "julho",
    "agosto",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
)
DIAS_ES = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")
DIAS_ES_LARGO = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
DIAS_PT = ("seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom.")
DIAS_PT_LARGO = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")

GREETINGS = {
    "es-AR": (
        "Hola, buenas tardes.",
        "Buenos días,",
        "Buenas tardes,",
        "Hola!",
        "Estimados:",
        "Buenas noches.",
        "Hola, ¿cómo están?",
        "Buen día.",
        "Hola,",
        "Señores:",
    ),
    "es-ES": ("Hola, buenos días.", "Buenas tardes,", "Hola,", "Estimados señores:", "Buenos días:", "Hola, ¿qué tal?"),
    "pt-BR": ("Olá, boa tarde.", "Bom dia,", "Boa tarde!", "Prezados,", "Olá,", "Oi, tudo bem?", "Boa noite."),
}
CLOSINGS = {
    "es-AR": (
        "Saludos,",
        "Muchas gracias!",
        "Desde ya, muchas gracias.",
        "Saludos cordiales,",
        "Gracias,",
        "Aguardo respuesta.",
        "Cordialmente,",
    ),
    "es-ES": ("Un saludo,", "Gracias de antemano.", "Saludos,", "Atentamente,", "Muchas gracias,"),
    "pt-BR": ("Atenciosamente,", "Obrigado,", "Obrigada!", "Abraços,", "Att.,", "Grato,"),
}
EMOJI = ("🙏", "😊", "👍", "🙂", "😅", "😡", "👋")

FOLLOWUPS = {
    "es": (
        "Gracias por la respuesta.",
        "Perfecto, muchas gracias!",
        "Sigo sin recibir lo que me indicaron.",
        "Les adjunto lo que me pidieron.",
        "Ya lo probé y sigue igual.",
        "Entendido, quedo a la espera.",
        "¿Alguna novedad sobre mi caso?",
        "No es lo que pregunté.",
        "Listo, ya está solucionado.",
    ),
    "pt": (
        "Obrigado pelo retorno.",
        "Perfeito, muito obrigado!",
        "Ainda não recebi o que foi informado.",
        "Segue em anexo o que foi solicitado.",
        "Já testei e continua igual.",
        "Entendido, fico no aguardo.",
        "Alguma novidade sobre o meu caso?",
        "Não foi isso que eu perguntei.",
        "Pronto, já foi resolvido.",
    ),
}
BUMPS = {
    "es": (
        "¿Alguna novedad?",
        "Buenas, ¿pudieron ver mi consulta?",
        "Reitero el pedido, por favor.",
        "Hola, sigo esperando respuesta.",
    ),
    "pt": (
        "Alguma novidade?",
        "Olá, conseguiram ver meu e-mail?",
        "Reitero a solicitação, por favor.",
        "Continuo aguardando retorno.",
    ),
}

AGENT_OPENINGS = {
    "es-AR": ("Gracias por comunicarte con {tenant}.", "Gracias por escribirnos.", "Recibimos tu consulta."),
    "es-ES": ("Gracias por contactar con {tenant}.", "Gracias por escribirnos.", "Hemos recibido tu consulta."),
    "pt-BR": (
        "Obrigado por entrar em contato com a {tenant}.",
        "Agradecemos o seu contato.",
        "Recebemos a sua mensagem.",
    ),
}
AGENT_CLOSINGS = {
    "es-AR": (
        "Quedamos a disposición.",
        "Cualquier otra consulta, no dudes en escribirnos.",
        "Que tengas un buen día.",
    ),
    "es-ES": ("Quedamos a tu disposición.", "Para cualquier otra consulta, escríbenos.", "Un saludo."),
    "pt-BR": ("Ficamos à disposição.", "Qualquer dúvida, é só responder este e-mail.", "Tenha um ótimo dia."),
}
AGENT_SIGNOFF = {"es-AR": "Saludos cordiales,", "es-ES": "Un saludo,", "pt-BR": "Atenciosamente,"}
TEAM = {
    "es-AR": "Equipo de Atención al Cliente",
    "es-ES": "Equipo de Atención al Cliente",
    "pt-BR": "Equipe de Atendimento",
}
SUPPORT_WORD = {"es-AR": "Soporte", "es-ES": "Soporte", "pt-BR": "Suporte"}

SURVEY = {
    "es-AR": (
        "¿Cómo fue tu experiencia con {tenant}?",
        "Queremos saber cómo te atendimos. Respondé esta breve encuesta de satisfacción.",
    ),
    "es-ES": (
        "¿Qué tal ha sido tu experiencia con {tenant}?",
        "Queremos saber cómo te hemos atendido. Responde esta breve encuesta.",
    ),
    "pt-BR": (
        "Como foi sua experiência com a {tenant}?",
        "Queremos saber como foi o nosso atendimento. Responda esta pesquisa rápida.",
    ),
}

SPAM_SUBJECTS = (
    "¡Felicitaciones! Ganaste un iPhone 16",
    "Oferta exclusiva: 90% de descuento",
    "Su cuenta será suspendida",
    "Você ganhou um prêmio!",
    "Préstamo aprobado sin requisitos",
    "Aumente suas vendas em 300%",
    "Invoice #{n} overdue",
    "Confirme sus datos bancarios",
)
SPAM_BODIES = (
    "Estimado cliente, haga clic en el siguiente enlace para reclamar su premio.",
    "Prezado cliente, clique no link abaixo para atualizar seus dados.",
    "Oferta válida solo por hoy. No pierda esta oportunidad única.",
)
VIRUS_SUBJECTS = (
    "Factura pendiente de pago",
    "Comprobante de transferencia",
    "Nota fiscal eletrônica",
    "Aviso de cobranza",
    "Documento escaneado",
)
FORWARDED_SUBJECTS = {
    "es": (
        "Aviso de vencimiento",
        "Tu factura de {mes} ya está disponible",
        "Confirmación de tu pedido {n}",
        "Notificación de débito",
        "Tu envío está en camino",
    ),
    "pt": (
        "Aviso de vencimento",
        "Sua fatura de {mes} está disponível",
        "Confirmação do pedido {n}",
        "Notificação de débito",
        "Seu pedido foi enviado",
    ),
}


def lang_base(lang: str) -> str:
    return "pt" if lang.startswith("pt") else "es"


def topics_for(lang: str) -> tuple[Topic, ...]:
    return PT_TOPICS if lang_base(lang) == "pt" else ES_TOPICS


def money(rng: random.Random, lang: str) -> str:
    amount = rng.randrange(1500, 250000) / 100 if lang != "es-AR" else rng.randrange(150000, 9500000) / 100
    whole, cents = f"{amount:,.2f}".split(".")
    whole = whole.replace(",", ".")
    if lang == "pt-BR":
        return f"R$ {whole},{cents}"
    if lang == "es-ES":
        return f"{whole},{cents} €"
    return f"$ {whole},{cents}"


def fill(template: str, rng: random.Random, ctx: dict[str, str]) -> str:
    """Substitute {placeholders}; values are drawn once per thread so a thread stays consistent."""
    if "{" not in template:
        return template
    return template.format_map(ctx)


def thread_context(
    rng: random.Random, lang: str, industry: str, tenant_name: str, month: int, day: int, year: int, full_name: str
) -> dict[str, str]:
    base = lang_base(lang)
    items = INDUSTRY_WORDS.get(industry, INDUSTRY_WORDS["comercio"])[base]
    meses = MESES_PT if base == "pt" else MESES_ES
    return {
        "item": rng.choice(items),
        "n": str(rng.randrange(10000, 999999)),
        "factura": f"000{rng.randrange(1, 9)}-{rng.randrange(1, 99999999):08d}",
        "monto": money(rng, lang),
        "mes": meses[(month - 2) % 12],
        "fecha": f"{max(1, day - rng.randrange(0, 6))}/{month}",
        "fecha_archivo": f"{year}{month:02d}{day:02d}-{rng.randrange(8, 20):02d}{rng.randrange(60):02d}"
        f"{rng.randrange(60):02d}",
        "cuit": f"30-{rng.randrange(10000000, 99999999)}-{rng.randrange(10)}",
        "cnpj": f"{rng.randrange(10, 99)}.{rng.randrange(100, 999)}.{rng.randrange(100, 999)}/0001-"
        f"{rng.randrange(10, 99)}",
        "cpf": f"{rng.randrange(100, 999)}.{rng.randrange(100, 999)}.{rng.randrange(100, 999)}-{rng.randrange(10, 99)}",
        "dni": f"{rng.randrange(10, 45)}.{rng.randrange(100, 999)}.{rng.randrange(100, 999)}",
        "cbu": "".join(str(rng.randrange(10)) for _ in range(22)),
        "calle": str(rng.randrange(100, 4999)),
        "tel": f"{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
        "nombre_completo": full_name,
        "tenant": tenant_name,
    }


def wrap(paragraph: str, width: int = 76) -> list[str]:
    """Greedy word wrap (textwrap is slow and we never need its options)."""
    if len(paragraph) <= width:
        return [paragraph]
    lines: list[str] = []
    cur = ""
    for word in paragraph.split(" "):
        if not cur:
            cur = word
        elif len(cur) + 1 + len(word) <= width:
            cur += " " + word
        else:
            lines.append(cur)
            cur = word
    if cur:
        lines.append(cur)
    return lines


def first_line(text: str) -> str | None:
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return None
